import sharp from 'sharp';

/** The `optimize_images` step: the same pixels, PNG at maximum compression and metadata dropped. */
export async function optimizePng(png: Buffer): Promise<Buffer> {
  const smaller = await sharp(png).png({ compressionLevel: 9, adaptiveFiltering: true, effort: 10 }).toBuffer();
  return smaller.length < png.length ? smaller : png;
}
