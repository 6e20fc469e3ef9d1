import { InvalidInputError } from '../../lib/errors.js';

/**
 * Finishing options: what happens to a remove-bg cut-out after the mask
 * (docs/api.md, "Finishing options"). Given per upload, per catalogue run or
 * batch, or as a shop's defaults in settings; each given field overrides the
 * defaults, and the result is stored with the image.
 */
export interface Finishing {
  /** `transparent`, or an opaque `#rrggbb` (lower case). */
  background: string;
  framing: 'none' | 'square';
  /** Percent of the canvas side left free on each side when framing is square (0..40). */
  padding: number;
  shadow: 'none' | 'soft';
  format: 'png' | 'jpeg' | 'webp';
}

export const FINISHING_KEYS = ['background', 'framing', 'padding', 'shadow', 'format'] as const;

export const DEFAULT_FINISHING: Finishing = Object.freeze({
  background: 'transparent',
  framing: 'none',
  padding: 8,
  shadow: 'none',
  format: 'png',
});

export const HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;
export const MAX_PADDING = 40;

const fail = (message: string): never => {
  throw new InvalidInputError(message, 'INVALID_FINISHING');
};

/**
 * Validates the given fields over `base` (the defaults, or the shop's saved
 * ones). Values may come as JSON (numbers) or as multipart strings; anything
 * unknown or out of range is a 400 INVALID_FINISHING.
 */
export function resolveFinishing(given: Record<string, unknown>, base: Finishing = DEFAULT_FINISHING): Finishing {
  for (const key of Object.keys(given)) {
    if (!(FINISHING_KEYS as readonly string[]).includes(key)) fail(`Unknown finishing option "${key}"`);
  }
  const out: Finishing = { ...base };
  const { background, framing, padding, shadow, format } = given;
  if (background !== undefined) {
    if (background === 'transparent') out.background = 'transparent';
    else if (typeof background === 'string' && HEX_COLOUR.test(background)) out.background = background.toLowerCase();
    else fail('background must be "transparent" or a colour like #ffffff');
  }
  if (framing !== undefined) {
    if (framing !== 'none' && framing !== 'square') fail('framing must be "none" or "square"');
    out.framing = framing as Finishing['framing'];
  }
  if (padding !== undefined) {
    const n = typeof padding === 'string' && /^\d+(\.\d+)?$/.test(padding.trim()) ? Number(padding) : padding;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_PADDING) {
      fail(`padding must be a number from 0 to ${MAX_PADDING} (percent of the canvas side)`);
    }
    out.padding = n as number;
  }
  if (shadow !== undefined) {
    if (shadow !== 'none' && shadow !== 'soft') fail('shadow must be "none" or "soft"');
    out.shadow = shadow as Finishing['shadow'];
  }
  if (format !== undefined) {
    if (format !== 'png' && format !== 'jpeg' && format !== 'webp') fail('format must be "png", "jpeg" or "webp"');
    out.format = format as Finishing['format'];
  }
  if (out.format === 'jpeg' && out.background === 'transparent') {
    fail('format "jpeg" needs an opaque background (a colour like #ffffff)');
  }
  return out;
}

/** The finishing fields among a form's fields (multipart strings), resolved over `base`. */
export function finishingFields(fields: Record<string, string>, base: Finishing): Finishing {
  const given = Object.fromEntries(Object.entries(fields).filter(([key]) => (FINISHING_KEYS as readonly string[]).includes(key)));
  return resolveFinishing(given, base);
}

/** True when the options change nothing (a plain cut-out as PNG). */
export function isPlainFinishing(f: Finishing): boolean {
  return f.background === 'transparent' && f.framing === 'none' && f.shadow === 'none' && f.format === 'png';
}

/** The file extension and content type of a result in this format. */
export function resultFormat(f: Pick<Finishing, 'format'>): { ext: string; contentType: string } {
  switch (f.format) {
    case 'jpeg':
      return { ext: 'jpg', contentType: 'image/jpeg' };
    case 'webp':
      return { ext: 'webp', contentType: 'image/webp' };
    default:
      return { ext: 'png', contentType: 'image/png' };
  }
}
