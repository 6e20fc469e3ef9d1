import sharp, { type Metadata } from 'sharp';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors.js';
import type { InspectedImage } from '../../modules/images/upload.js';

const FORMATS: Record<string, { ext: string; contentType: string }> = {
  png: { ext: 'png', contentType: 'image/png' },
  jpeg: { ext: 'jpg', contentType: 'image/jpeg' },
  webp: { ext: 'webp', contentType: 'image/webp' },
  gif: { ext: 'gif', contentType: 'image/gif' },
  tiff: { ext: 'tif', contentType: 'image/tiff' },
  avif: { ext: 'avif', contentType: 'image/avif' },
};

/**
 * Sniffs an upload by decoding it, whatever its name or declared type says.
 * Accepts PNG, JPEG, WebP, GIF (first frame), AVIF and TIFF; refuses SVG and
 * everything else (415), and images over `maxPixels` before decoding them (413).
 */
export function createImageInspector(maxPixels: number) {
  return async function inspect(data: Buffer): Promise<InspectedImage> {
    if (data.length === 0) throw new UnsupportedMediaTypeError('The file is empty');
    let meta: Metadata;
    try {
      meta = await sharp(data, { limitInputPixels: false }).metadata();
    } catch {
      throw new UnsupportedMediaTypeError('The file is not a supported image');
    }
    const format = meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format;
    const known = format ? FORMATS[format] : undefined;
    if (!known || !meta.width || !meta.height) {
      throw new UnsupportedMediaTypeError('Supported images: PNG, JPEG, WebP, GIF, AVIF, TIFF');
    }
    if (meta.width * meta.height > maxPixels) {
      throw new PayloadTooLargeError(`The image has more than ${maxPixels} pixels`);
    }
    try {
      // A full decode (to a tiny output) catches truncated and corrupt files.
      await sharp(data, { limitInputPixels: maxPixels, failOn: 'truncated' }).resize(8, 8, { fit: 'inside' }).raw().toBuffer();
    } catch {
      throw new UnsupportedMediaTypeError('The image is truncated or corrupt');
    }
    return { ...known, width: meta.width, height: meta.height };
  };
}

/** Width and height from the image's header (no full decode). */
export async function imageDimensions(data: Buffer): Promise<{ width: number; height: number }> {
  const meta = await sharp(data, { limitInputPixels: false }).metadata();
  if (!meta.width || !meta.height) throw new UnsupportedMediaTypeError('The result is not an image');
  return { width: meta.width, height: meta.height };
}
