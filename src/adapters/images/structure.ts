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

/** The problem of an image of a format sharp named, or null (formats without a cheap check pass to the job). */
export function checkStructure(format: string, data: Buffer): StructureProblem | null {
  switch (format) {
    case 'jpeg':
      return checkJpeg(data);
    case 'png':
      return checkPng(data);
    case 'webp':
      return checkWebp(data);
    default:
      return null;
  }
}
