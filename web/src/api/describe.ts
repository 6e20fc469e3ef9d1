import { EMBEDDED } from '../env';
import { ApiError } from './http';

export interface Described {
  title: string;
  message: string;
  tone: 'critical' | 'warning' | 'info';
  /** What the person can do about it. */
  action?: 'buy-credits' | 'grant-scopes' | 'retry' | 'reload';
  scopes?: string[];
}

/** An error in words for a merchant, with what to do next. */
export function describeError(err: unknown): Described {
  if (!(err instanceof ApiError)) {
    return { title: 'Something went wrong', message: err instanceof Error ? err.message : String(err), tone: 'critical', action: 'retry' };
  }
  const requestId = err.body.requestId ? ` (reference ${err.body.requestId})` : '';
  switch (err.status) {
    case 0:
      return {
        title: 'The app server cannot be reached',
        message: 'Check your connection; nothing was lost, try again in a moment.',
        tone: 'warning',
        action: 'retry',
      };
    case 401:
      return EMBEDDED
        ? {
            title: 'Your Shopify session could not be verified',
            message: 'Reload the app from your Shopify admin.',
            tone: 'critical',
            action: 'reload',
          }
        : { title: 'You are signed out', message: 'Sign in again to continue.', tone: 'warning', action: 'reload' };
    case 402: {
      const e = err.body.error;
      const left = typeof e === 'object' && e && typeof e.remaining_credits === 'number' ? e.remaining_credits : 0;
      return {
        title: 'Not enough credits',
        message: `Each image costs one credit and you have ${left} left. Buy credits to continue.`,
        tone: 'warning',
        action: 'buy-credits',
      };
    }
    case 403:
      if (err.code === 'MISSING_SCOPES') {
        const scopes = err.body.scopes ?? [];
        return {
          title: 'The app needs more access to your store',
          message: `To edit product images it needs permission to: ${scopes.join(', ') || 'read and write products and files'}.`,
          tone: 'warning',
          action: 'grant-scopes',
          scopes,
        };
      }
      return { title: 'Not allowed', message: err.message, tone: 'critical' };
    case 413:
      return { title: 'The file is too large', message: err.message, tone: 'critical' };
    case 415:
      return {
        title: 'This file is not an image the app can read',
        message: 'Use PNG, JPEG, WebP, GIF, AVIF or TIFF.',
        tone: 'critical',
      };
    case 429:
      return {
        title: 'Too many requests',
        message: `The app is busy for your store${err.retryAfterS ? `; try again in ${Math.ceil(err.retryAfterS)} s` : ''}.`,
        tone: 'warning',
        action: 'retry',
      };
    default:
      if (err.status >= 500) {
        return {
          title: 'Something went wrong on our side',
          message: `Try again in a moment${requestId}.`,
          tone: 'critical',
          action: 'retry',
        };
      }
      if (err.status === 404 && err.message === 'Not found') {
        // The router's own 404: a server older than this page.
        return { title: 'Not available', message: 'The app server does not offer this yet.', tone: 'warning' };
      }
      return {
        title: err.status === 404 ? 'Not found' : 'The request was refused',
        message: err.body.details?.length
          ? `${err.message}: ${err.body.details.map((d) => `${d.path ?? ''} ${d.message ?? ''}`.trim()).join('; ')}`
          : err.message,
        tone: 'critical',
      };
  }
}
