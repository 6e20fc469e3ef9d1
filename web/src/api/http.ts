import { appBridge, EMBEDDED } from '../env';

/**
 * Every call to the API goes through here: the session token from App Bridge
 * when embedded (never cookies there), the cookie in local mode; a 429 waits
 * for Retry-After and tries again.
 */

/** The documented error shape: `{error, code}`; 402 has `error.message` and `error.remaining_credits`. */
export interface ErrorBody {
  error?: string | { message?: string; remaining_credits?: number };
  code?: string;
  details?: Array<{ path?: string; message?: string }>;
  requestId?: string;
  scopes?: string[];
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    /** 0 when the server could not be reached. */
    readonly status: number,
    readonly body: ErrorBody,
    readonly retryAfterS: number | null = null,
  ) {
    const e = body.error;
    super(typeof e === 'string' ? e : (e?.message ?? `HTTP ${status}`));
  }
  get code(): string {
    return this.body.code ?? (this.status === 0 ? 'NETWORK' : `HTTP_${this.status}`);
  }
}

/** Credentials for one request: a fresh session token when embedded (App Bridge caches and renews it). */
export async function authHeaders(): Promise<Record<string, string>> {
  if (!EMBEDDED) return {};
  const bridge = appBridge();
  if (!bridge) throw new ApiError(401, { error: 'App Bridge is not available: open the app from your Shopify admin', code: 'NO_APP_BRIDGE' });
  return { authorization: `Bearer ${await bridge.idToken()}` };
}

export const CREDENTIALS: RequestCredentials = EMBEDDED ? 'omit' : 'same-origin';

/** How long to wait after a 429 (Retry-After seconds, bounded). */
export function retryAfterMs(value: string | null): number {
  const s = Number(value);
  return Math.min(60, Number.isFinite(s) && s > 0 ? s : 1) * 1000;
}

const MAX_RATE_LIMIT_RETRIES = 5;

type WaitListener = (waitingUntil: number | null) => void;
const waitListeners = new Set<WaitListener>();
let waiting = 0;

/** The UI shows "waiting for the rate limit" while any request is waiting. */
export function onRateLimitWait(listener: WaitListener): () => void {
  waitListeners.add(listener);
  return () => waitListeners.delete(listener);
}

export async function waitForRateLimit(ms: number): Promise<void> {
  waiting++;
  for (const l of waitListeners) l(Date.now() + ms);
  try {
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    waiting--;
    if (waiting === 0) for (const l of waitListeners) l(null);
  }
}

/** fetch with our credentials and the 429 rule; the body of `request` is replayed from a clone. */
export async function apiFetch(request: Request): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(request.headers);
    for (const [k, v] of Object.entries(await authHeaders())) headers.set(k, v);
    const spare = request.clone();
    let response: Response;
    try {
      response = await fetch(new Request(request, { headers, credentials: CREDENTIALS }));
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, { error: 'Could not reach the app server', code: 'NETWORK' });
    }
    if (response.status !== 429 || attempt >= MAX_RATE_LIMIT_RETRIES) return response;
    await waitForRateLimit(retryAfterMs(response.headers.get('retry-after')));
    request = spare;
  }
}

/** The ApiError of a failed answer whose body was read already (or is read here). */
export async function errorOf(response: Response, parsed?: unknown): Promise<ApiError> {
  let body = parsed as ErrorBody | undefined;
  if (!body || typeof body !== 'object') {
    try {
      body = (await response.json()) as ErrorBody;
    } catch {
      body = { error: response.statusText || `HTTP ${response.status}` };
    }
  }
  const retry = response.headers.get('retry-after');
  return new ApiError(response.status, body, retry ? retryAfterMs(retry) / 1000 : null);
}

/** A JSON call for endpoints the generated client does not know yet (api/pending.ts). */
export async function requestJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await apiFetch(
    new Request(path, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    }),
  );
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}
