import sharp from 'sharp';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors.js';
import { inspectHeader } from './inspect.js';

export const AVATAR_MAX_BYTES = 2 * 1024 * 1024;
export const AVATAR_MAX_SIDE = 512;
/** A 2 MB avatar decodes in well under a second; past this it is refused rather than holding a thread. */
export const AVATAR_DECODE_TIMEOUT_S = 5;
const ACCEPTED = new Set(['png', 'jpeg', 'webp']);

/**
 * A merchant's avatar: PNG, JPEG or WebP (sniffed, so an SVG or a script
 * named .png is refused), re-encoded to WebP within 512x512. The re-encoding
 * drops metadata and anything that is not pixels. The header and structure are
 * checked first (no decoding), and the decode itself is time-limited.
 */
export async function normalizeAvatar(data: Buffer, maxPixels: number): Promise<Buffer> {
  if (data.length > AVATAR_MAX_BYTES) throw new PayloadTooLargeError('Avatars are limited to 2 MB');
  let format: string;
  try {
    ({ format } = await inspectHeader(data, maxPixels));
  } catch (err) {
    if (err instanceof UnsupportedMediaTypeError) {
      throw new UnsupportedMediaTypeError(
        /truncated/.test(err.message) ? 'The avatar is truncated or corrupt' : 'The avatar must be a PNG, JPEG or WebP image',
      );
    }
    throw err;
  }
  if (!ACCEPTED.has(format)) throw new UnsupportedMediaTypeError('The avatar must be a PNG, JPEG or WebP image');
  try {
    return await sharp(data, { limitInputPixels: maxPixels, failOn: 'truncated' })
      .timeout({ seconds: AVATAR_DECODE_TIMEOUT_S })
      .rotate()
      .resize(AVATAR_MAX_SIDE, AVATAR_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 85 })
      .toBuffer();
  } catch (err) {
    if (/timeout/i.test((err as Error).message)) throw new PayloadTooLargeError('The avatar is too costly to decode', 'IMAGE_TOO_COMPLEX');
    throw new UnsupportedMediaTypeError('The avatar is truncated or corrupt');
  }
}
