import sharp from 'sharp';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors.js';

export const AVATAR_MAX_BYTES = 2 * 1024 * 1024;
export const AVATAR_MAX_SIDE = 512;
const ACCEPTED = new Set(['png', 'jpeg', 'webp']);

/**
 * A merchant's avatar: PNG, JPEG or WebP (sniffed by decoding, so an SVG or a
 * script named .png is refused), re-encoded to WebP within 512x512. The
 * re-encoding drops metadata and anything that is not pixels.
 */
export async function normalizeAvatar(data: Buffer, maxPixels: number): Promise<Buffer> {
  if (data.length > AVATAR_MAX_BYTES) throw new PayloadTooLargeError('Avatars are limited to 2 MB');
  let meta;
  try {
    meta = await sharp(data, { limitInputPixels: false }).metadata();
  } catch {
    throw new UnsupportedMediaTypeError('The avatar must be a PNG, JPEG or WebP image');
  }
  if (!meta.format || !ACCEPTED.has(meta.format) || !meta.width || !meta.height) {
    throw new UnsupportedMediaTypeError('The avatar must be a PNG, JPEG or WebP image');
  }
  if (meta.width * meta.height > maxPixels) throw new PayloadTooLargeError(`The avatar has more than ${maxPixels} pixels`);
  try {
    return await sharp(data, { limitInputPixels: maxPixels, failOn: 'truncated' })
      .rotate()
      .resize(AVATAR_MAX_SIDE, AVATAR_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 85 })
      .toBuffer();
  } catch {
    throw new UnsupportedMediaTypeError('The avatar is truncated or corrupt');
  }
}
