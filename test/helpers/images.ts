import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

/** A real photo-like test image: a coloured object on a plain background. */
export async function productShot(width = 64, height = 48, format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  const object = await sharp({
    create: { width: Math.round(width / 2), height: Math.round(height / 2), channels: 3, background: { r: 200, g: 30, b: 40 } },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: { r: 250, g: 250, b: 250 } } })
    .composite([{ input: object, gravity: 'center' }])
    .toFormat(format)
    .toBuffer();
}

export interface Part {
  name: string;
  data: Buffer | string;
  filename?: string;
  contentType?: string;
}

/** A multipart/form-data body as a browser would send it. */
export function multipart(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----test${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType) head += `Content-Type: ${part.contentType}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** The usual upload: one file part and an operation field. */
export function uploadForm(file: Buffer, operation: string, filename = 'photo.jpg', contentType = 'image/jpeg') {
  return multipart([
    { name: 'operation', data: operation },
    { name: 'file', data: file, filename, contentType },
  ]);
}
