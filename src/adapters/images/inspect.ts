import sharp, { type Metadata } from 'sharp';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors.js';
import type { InspectedImage } from '../../modules/images/upload.js';
import { checkStructure, MAX_JPEG_SCANS } from './structure.js';

const FORMATS: Record<string, { ext: string; contentType: string }> = {
  png: { ext: 'png', contentType: 'image/png' },
  jpeg: { ext: 'jpg', contentType: 'image/jpeg' },
  webp: { ext: 'webp', contentType: 'image/webp' },
  gif: { ext: 'gif', contentType: 'image/gif' },
  tiff: { ext: 'tif', contentType: 'image/tiff' },
  avif: { ext: 'avif', contentType: 'image/avif' },
};

/**
 * Reads an image's header (format and size) and checks its structure with a
 * byte scan, without decoding the pixels: the shared checks of uploads and avatars.
 */
export async function inspectHeader(data: Buffer, maxPixels: number): Promise<{ format: string; width: number; height: number; meta: Metadata }> {
  if (data.length === 0) throw new UnsupportedMediaTypeError('The file is empty');
  let meta: Metadata;
  try {
    meta = await sharp(data, { limitInputPixels: false }).metadata();
  } catch {
    throw new UnsupportedMediaTypeError('The file is not a supported image');
  }
  const format = meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format;
  if (!format || !FORMATS[format] || !meta.width || !meta.height) {
    throw new UnsupportedMediaTypeError('Supported images: PNG, JPEG, WebP, GIF, AVIF, TIFF');
  }
  if (meta.width * meta.height > maxPixels) {
    throw new PayloadTooLargeError(`The image has more than ${maxPixels} pixels`);
  }
  const problem = checkStructure(format, data);
  if (problem === 'truncated') throw new UnsupportedMediaTypeError('The image is truncated or corrupt');
  if (problem === 'too_many_scans') {
    throw new PayloadTooLargeError(`The JPEG has more than ${MAX_JPEG_SCANS} scans: save it as a baseline or normal progressive JPEG`, 'IMAGE_TOO_COMPLEX');
  }
  return { format, width: meta.width, height: meta.height, meta };
}

/**
 * Sniffs an upload by its header, whatever its name or declared type says.
 * Accepts PNG, JPEG, WebP, GIF (first frame), AVIF and TIFF; refuses SVG and
 * everything else (415), images over `maxPixels` (413) and JPEGs too costly
 * to decode (413). No pixels are decoded here: the job decodes them, under a
 * time limit, and fails (with its refund) an image that does not decode.
 */
export function createImageInspector(maxPixels: number) {
  return async function inspect(data: Buffer): Promise<InspectedImage> {
    const { format, width, height } = await inspectHeader(data, maxPixels);
    return { ...FORMATS[format]!, width, height };
  };
}

/** Width and height from the image's header (no full decode). */
export async function imageDimensions(data: Buffer): Promise<{ width: number; height: number }> {
  const meta = await sharp(data, { limitInputPixels: false }).metadata();
  if (!meta.width || !meta.height) throw new UnsupportedMediaTypeError('The result is not an image');
  return { width: meta.width, height: meta.height };
}
