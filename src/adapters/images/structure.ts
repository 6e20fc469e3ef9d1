/**
 * Cheap byte-level checks of an image's structure, run at the request instead
 * of a full decode: a file that is cheap to send but costly to decode (a
 * progressive JPEG with thousands of scans) or visibly cut short is refused
 * without spending a decoder's time on it. The job decodes fully, under a time limit.
 */

/** Normal progressive JPEGs have about 10 scans; thousands of them cost each decoder a pass over the image each. */
export const MAX_JPEG_SCANS = 64;

export type StructureProblem = 'truncated' | 'too_many_scans';

const isStandalone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);

/** Walks a JPEG's markers (skipping entropy-coded data by searching for 0xFF): counts SOS markers, needs EOI. */
export function checkJpeg(data: Buffer, maxScans = MAX_JPEG_SCANS): StructureProblem | null {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) return 'truncated';
  let i = 2;
  let scans = 0;
  while (i + 1 < data.length) {
    if (data[i] !== 0xff) {
      // Entropy-coded data after a scan header: jump to the next marker (0xFF00 is a stuffed byte, RSTn are inside the scan).
      const next = data.indexOf(0xff, i);
      if (next < 0) return 'truncated';
      i = next;
      continue;
    }
    const marker = data[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0x00 || isStandalone(marker)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9) return null; // EOI
    if (i + 4 > data.length) return 'truncated';
    const end = i + 2 + data.readUInt16BE(i + 2);
    if (end > data.length) return 'truncated';
    if (marker === 0xda && ++scans > maxScans) return 'too_many_scans';
    i = end;
  }
  return 'truncated';
}

/** A PNG ends with its IEND chunk (a few trailing bytes after it are tolerated). */
export function checkPng(data: Buffer): StructureProblem | null {
  const tail = data.subarray(Math.max(8, data.length - 1024));
  return tail.lastIndexOf('IEND', undefined, 'latin1') >= 0 ? null : 'truncated';
}

/** A WebP's RIFF header states its length. */
export function checkWebp(data: Buffer): StructureProblem | null {
  return data.length >= 12 && data.readUInt32LE(4) + 8 <= data.length ? null : 'truncated';
}

/** A GIF is a walk of blocks (extensions, images, each a chain of sub-blocks) that must reach its trailer (0x3B). */
export function checkGif(data: Buffer): StructureProblem | null {
  if (data.length < 13) return 'truncated';
  const colorTable = (flags: number) => (flags & 0x80 ? 3 << ((flags & 0x07) + 1) : 0);
  let i = 13 + colorTable(data[10]!);
  const skipSubBlocks = (at: number) => {
    while (at < data.length && data[at] !== 0) at += data[at]! + 1;
    return at + 1; // past the zero-length terminator
  };
  while (i < data.length) {
    const block = data[i]!;
    if (block === 0x3b) return null;
    if (block === 0x21) i = skipSubBlocks(i + 2); // extension: introducer, label, sub-blocks
    else if (block === 0x2c) {
      if (i + 10 > data.length) return 'truncated';
      i = skipSubBlocks(i + 10 + colorTable(data[i + 9]!) + 1); // descriptor, local colours, LZW code size, sub-blocks
    } else return 'truncated';
  }
  return 'truncated';
}

const TIFF_TYPE_SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4 };
// StripOffsets/StripByteCounts and TileOffsets/TileByteCounts: where the pixel data lies.
const TIFF_DATA_TAGS: Array<[offsets: number, byteCounts: number]> = [
  [273, 279],
  [324, 325],
];
const isTiffDataTag = (tag: number) => TIFF_DATA_TAGS.some((pair) => pair.includes(tag));
const MAX_TIFF_IFDS = 1024;

/**
 * A classic TIFF's directories, every value they point to and every strip or
 * tile of pixel data must lie within the file (BigTIFF passes to the job).
 */
export function checkTiff(data: Buffer): StructureProblem | null {
  if (data.length < 8) return 'truncated';
  const le = data[0] === 0x49;
  const u16 = (at: number) => (le ? data.readUInt16LE(at) : data.readUInt16BE(at));
  const u32 = (at: number) => (le ? data.readUInt32LE(at) : data.readUInt32BE(at));
  if (u16(2) !== 42) return null;
  for (let ifd = u32(4), n = 0; ifd !== 0; ifd = u32(ifd + 2 + 12 * u16(ifd)), n++) {
    if (n >= MAX_TIFF_IFDS || ifd + 2 > data.length || ifd + 2 + 12 * u16(ifd) + 4 > data.length) return 'truncated';
    const entries = new Map<number, number[]>();
    for (let e = ifd + 2; e < ifd + 2 + 12 * u16(ifd); e += 12) {
      const [tag, type, count] = [u16(e), u16(e + 2), u32(e + 4)];
      const size = (TIFF_TYPE_SIZES[type] ?? 1) * count;
      const at = size <= 4 ? e + 8 : u32(e + 8);
      if (at + size > data.length) return 'truncated';
      if ((type === 3 || type === 4) && isTiffDataTag(tag)) {
        entries.set(tag, Array.from({ length: count }, (_, k) => (type === 3 ? u16(at + 2 * k) : u32(at + 4 * k))));
      }
    }
    for (const [offsetsTag, countsTag] of TIFF_DATA_TAGS) {
      const [offsets, counts] = [entries.get(offsetsTag) ?? [], entries.get(countsTag) ?? []];
      if (offsets.some((offset, k) => offset + (counts[k] ?? 0) > data.length)) return 'truncated';
    }
  }
  return null;
}

/**
 * An AVIF (ISO BMFF) is a sequence of boxes, each stating its size: they must
 * tile the file to its end, and the pixels must be there (an mdat box, or an
 * idat inside the meta box), so a file cut between its boxes is caught too.
 */
export function checkAvif(data: Buffer): StructureProblem | null {
  let hasPixels = false;
  for (let i = 0; i < data.length; ) {
    if (i + 8 > data.length) return 'truncated';
    const type = data.toString('latin1', i + 4, i + 8);
    let size = data.readUInt32BE(i);
    if (size === 1) {
      if (i + 16 > data.length) return 'truncated';
      size = Number(data.readBigUInt64BE(i + 8));
    } else if (size === 0) size = data.length - i; // the last box runs to the end of the file
    if (size < 8 || i + size > data.length) return 'truncated';
    hasPixels ||= type === 'mdat' || (type === 'meta' && data.subarray(i, i + size).includes('idat', 0, 'latin1'));
    i += size;
  }
  return hasPixels ? null : 'truncated';
}

/** The problem of an image of a format sharp named, or null. */
export function checkStructure(format: string, data: Buffer): StructureProblem | null {
  switch (format) {
    case 'jpeg':
      return checkJpeg(data);
    case 'png':
      return checkPng(data);
    case 'webp':
      return checkWebp(data);
    case 'gif':
      return checkGif(data);
    case 'tiff':
      return checkTiff(data);
    case 'avif':
      return checkAvif(data);
    default:
      return null;
  }
}
