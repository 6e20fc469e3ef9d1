import sharp from 'sharp';
import { productShot } from './images.js';

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

/** Appends Huffman codes and raw bits MSB first, stuffing a 0x00 after every 0xFF byte as JPEG requires. */
class BitWriter {
  private readonly bytes: number[] = [];
  private acc = 0;
  private count = 0;

  write(value: number, length: number): void {
    for (let bit = length - 1; bit >= 0; bit--) {
      this.acc = (this.acc << 1) | ((value >> bit) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }

  /** Pads the last byte with 1 bits (the standard's padding) and returns the scan's entropy-coded bytes. */
  finish(): Buffer {
    if (this.count > 0) this.write(0xff, 8 - this.count);
    return Buffer.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0x00);
    this.acc = 0;
    this.count = 0;
  }
}

/** Canonical Huffman codes of a DHT's counts per length (1..16) and symbols. */
function huffmanCodes(counts: number[], symbols: number[]): Map<number, { code: number; length: number }> {
  const codes = new Map<number, { code: number; length: number }>();
  let code = 0;
  let next = 0;
  counts.forEach((n, i) => {
    for (let j = 0; j < n; j++) codes.set(symbols[next++]!, { code: code++, length: i + 1 });
    code <<= 1;
  });
  return codes;
}

// The standard's luminance DC table (ITU T.81 Annex K.3): DC difference categories 0..11.
const DC_COUNTS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_SYMBOLS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
// AC table of end-of-band runs only: EOBr (symbol r << 4) says 2^r + r extra bits blocks have no more coefficients.
const AC_COUNTS = [0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_SYMBOLS = Array.from({ length: 15 }, (_, r) => r << 4);
const MAX_EOB_RUN = 0x7fff;
/** The deepest successive approximation the standard allows (Al <= 13): 14 scans per coefficient. */
const MAX_AL = 13;
const DC_QUANT = 16;

const segment = (marker: number, body: Buffer) => {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
};
const dht = (tableClass: number, counts: number[], symbols: number[]) => Buffer.from([(tableClass << 4) | 0, ...counts, ...symbols]);
const sos = (components: number[], ss: number, se: number, ah: number, al: number) =>
  segment(0xda, Buffer.from([components.length, ...components.flatMap((c) => [c + 1, 0x00]), ss, se, (ah << 4) | al]));

/** Per 8x8 block, the DC coefficients (Y, Cb, Cr) of a sharp-made product shot seen at one pixel per block. */
async function blockDcs(blocksWide: number, blocksHigh: number): Promise<Int16Array[]> {
  const rgb = await sharp(await productShot(blocksWide, blocksHigh, 'png')).removeAlpha().raw().toBuffer();
  const planes = [0, 1, 2].map(() => new Int16Array(blocksWide * blocksHigh));
  for (let i = 0; i < blocksWide * blocksHigh; i++) {
    const [r, g, b] = [rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!];
    const ycc = [0.299 * r + 0.587 * g + 0.114 * b, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128 + 0.5 * r - 0.418688 * g - 0.081312 * b];
    // A DC coefficient is 8 times the block's mean level, shifted by 128, divided by its quantizer.
    ycc.forEach((v, c) => (planes[c]![i] = Math.round(((v - 128) * 8) / DC_QUANT)));
  }
  return planes;
}

/** The first DC scan, all three components interleaved (one block each per MCU at 4:4:4). */
function dcScan(planes: Int16Array[]): Buffer {
  const codes = huffmanCodes(DC_COUNTS, DC_SYMBOLS);
  const out = new BitWriter();
  const predictors = [0, 0, 0];
  for (let i = 0; i < planes[0]!.length; i++) {
    planes.forEach((plane, c) => {
      const diff = plane[i]! - predictors[c]!;
      predictors[c] = plane[i]!;
      const category = diff === 0 ? 0 : Math.floor(Math.log2(Math.abs(diff))) + 1;
      const { code, length } = codes.get(category)!;
      out.write(code, length);
      // Negative differences are sent as their one's complement in `category` bits.
      if (category > 0) out.write(diff > 0 ? diff : diff + (1 << category) - 1, category);
    });
  }
  return out.finish();
}

/** An AC scan (first or refinement) in which every block's band is zero: end-of-band runs covering all blocks. */
function emptyAcScan(blocks: number): Buffer {
  const codes = huffmanCodes(AC_COUNTS, AC_SYMBOLS);
  const out = new BitWriter();
  for (let left = blocks; left > 0; ) {
    const run = Math.min(left, MAX_EOB_RUN);
    const r = Math.floor(Math.log2(run));
    const { code, length } = codes.get(r << 4)!;
    out.write(code, length);
    out.write(run - (1 << r), r);
    left -= run;
  }
  return out.finish();
}

/**
 * A valid progressive JPEG (no decoder warning) that is cheap to send and
 * costly to decode: a product shot whose every AC coefficient of every
 * component gets its own scan, first at the deepest successive approximation
 * then refined bit by bit (3 x 63 x 14 = 2646 scans plus one DC scan). Each
 * scan is a few bytes of end-of-band runs, but a decoder walks every block of
 * the component for it. At 4000x4000: 287 KB, 11 s of one core for sharp to decode.
 */
export async function scanBombJpeg(width = 4000, height = 4000): Promise<Buffer> {
  const [blocksWide, blocksHigh] = [Math.ceil(width / 8), Math.ceil(height / 8)];
  const planes = await blockDcs(blocksWide, blocksHigh);
  const frame = Buffer.from([8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, ...[1, 2, 3].flatMap((id) => [id, 0x11, 0])]);
  const parts = [
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, Buffer.from([...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0])),
    segment(0xdb, Buffer.from([0, ...Array<number>(64).fill(DC_QUANT)])),
    segment(0xc2, frame),
    segment(0xc4, Buffer.concat([dht(0, DC_COUNTS, DC_SYMBOLS), dht(1, AC_COUNTS, AC_SYMBOLS)])),
    sos([0, 1, 2], 0, 0, 0, 0),
    dcScan(planes),
  ];
  const acData = emptyAcScan(blocksWide * blocksHigh);
  for (let component = 0; component < 3; component++) {
    for (let k = 1; k < 64; k++) {
      parts.push(sos([component], k, k, 0, MAX_AL), acData);
      for (let al = MAX_AL - 1; al >= 0; al--) parts.push(sos([component], k, k, al + 1, al), acData);
    }
  }
  parts.push(Buffer.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}
