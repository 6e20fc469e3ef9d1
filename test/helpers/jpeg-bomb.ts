import sharp from 'sharp';

/** A normal progressive JPEG of a product-like photo (about 10 scans). */
export async function progressiveJpeg(width = 640, height = 480, grain = 8): Promise<Buffer> {
  const object = await sharp({ create: { width: Math.round(width / 2), height: Math.round(height / 2), channels: 3, background: '#b4283c' } })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: '#f2f2ee', ...(grain > 0 ? { noise: { type: 'gaussian' as const, mean: 0, sigma: grain } } : {}) } })
    .composite([{ input: object, gravity: 'center' }])
    .jpeg({ progressive: true, quality: 85 })
    .toBuffer();
}

/** The number of SOS markers outside entropy-coded data (what a decoder runs a pass for). */
export function countScans(jpeg: Buffer): number {
  let n = 0;
  for (let i = jpeg.indexOf(Buffer.from([0xff, 0xda])); i >= 0; i = jpeg.indexOf(Buffer.from([0xff, 0xda]), i + 2)) n++;
  return n;
}

/**
 * A progressive JPEG whose last scan is repeated `scans` times before EOI: a
 * few hundred KB that makes a decoder do one pass over the image per scan.
 */
export async function manyScanJpeg(scans = 3000, width = 640, height = 480): Promise<Buffer> {
  // A studio shot on a seamless background: its last scan is small, so thousands of copies stay a few hundred KB.
  const jpeg = await progressiveJpeg(width, height, 0);
  const lastScan = jpeg.lastIndexOf(Buffer.from([0xff, 0xda]));
  const eoi = jpeg.length - 2;
  const scan = jpeg.subarray(lastScan, eoi);
  return Buffer.concat([jpeg.subarray(0, eoi), ...Array.from({ length: scans }, () => scan), jpeg.subarray(eoi)]);
}
