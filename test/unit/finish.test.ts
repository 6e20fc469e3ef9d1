import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { applyFinishing } from '../../src/adapters/processor/finish.js';
import { DEFAULT_FINISHING, type Finishing } from '../../src/modules/images/finishing.js';

/** A cut-out like remove-bg answers: a 600x400 canvas, transparent but for an off-centre product with a soft edge. */
async function cutout(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="400"><defs><filter id="s"><feGaussianBlur stdDeviation="1"/></filter></defs>
    <rect x="60" y="50" width="200" height="300" rx="20" fill="#2255aa" filter="url(#s)"/><circle cx="160" cy="150" r="40" fill="#f0c040"/></svg>`;
  return sharp(Buffer.from(svg)).ensureAlpha().png().toBuffer();
}

const finishing = (f: Partial<Finishing>): Finishing => ({ ...DEFAULT_FINISHING, ...f });

/** Bounding box of pixels that differ from `bg` (RGB) by more than `tol`, or of alpha > 24 when bg is null. */
async function box(image: Buffer, bg: [number, number, number] | null, tol = 40) {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  let x0 = info.width, y0 = info.height, x1 = -1, y1 = -1;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const o = (y * info.width + x) * 4;
      const on = bg
        ? Math.abs(data[o]! - bg[0]) + Math.abs(data[o + 1]! - bg[1]) + Math.abs(data[o + 2]! - bg[2]) > tol
        : data[o + 3]! > 24;
      if (!on) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  return { x0, y0, x1, y1, width: info.width, height: info.height, data };
}

describe('applyFinishing', () => {
  it('square framing centres the bounding box on a square canvas with margins equal to the padding', async () => {
    for (const padding of [0, 8, 25]) {
      const out = await applyFinishing(await cutout(), finishing({ framing: 'square', padding, background: '#ffffff' }));
      const b = await box(out.data, [255, 255, 255]);
      expect(b.width).toBe(b.height);
      const side = b.width;
      const left = b.x0, right = side - 1 - b.x1, top = b.y0, bottom = side - 1 - b.y1;
      expect(Math.abs(left - right) / side, `padding ${padding}: horizontal centring`).toBeLessThanOrEqual(0.01);
      expect(Math.abs(top - bottom) / side, `padding ${padding}: vertical centring`).toBeLessThanOrEqual(0.01);
      // the longer side (the height) leaves exactly `padding` % above and below
      expect(Math.abs(top / side - padding / 100), `padding ${padding}: margin`).toBeLessThanOrEqual(0.01);
      expect(Math.abs(bottom / side - padding / 100)).toBeLessThanOrEqual(0.01);
    }
  });

  it('an opaque background is exactly the colour; PNG stays lossless', async () => {
    const out = await applyFinishing(await cutout(), finishing({ background: '#12ab34' }));
    expect(out).toMatchObject({ format: 'png', ext: 'png', contentType: 'image/png' });
    const { data, info } = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([600, 400]); // framing none keeps the canvas
    let checked = 0;
    for (let y = 0; y < info.height; y += 7) {
      for (let x = 300; x < info.width; x += 7) {
        const o = (y * info.width + x) * info.channels;
        expect([data[o], data[o + 1], data[o + 2]]).toEqual([0x12, 0xab, 0x34]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('a soft shadow darkens the ground under the product only', async () => {
    const out = await applyFinishing(await cutout(), finishing({ background: '#ffffff', shadow: 'soft' }));
    const { data, info } = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[(y * info.width + x) * info.channels]!;
    expect(at(160, 352)).toBeLessThan(235); // just under the base line
    expect(at(160, 390)).toBe(255); // well below: untouched
    expect(at(500, 352)).toBe(255); // beside: untouched
  });

  it('transparent with a shadow stays transparent around it; JPEG and WebP are encoded as asked', async () => {
    const png = await applyFinishing(await cutout(), finishing({ shadow: 'soft', framing: 'square' }));
    const b = await box(png.data, null);
    expect(b.data[3]).toBe(0); // a corner
    const jpeg = await applyFinishing(await cutout(), finishing({ background: '#ffffff', format: 'jpeg' }));
    expect(jpeg).toMatchObject({ ext: 'jpg', contentType: 'image/jpeg' });
    expect((await sharp(jpeg.data).metadata()).format).toBe('jpeg');
    const webp = await applyFinishing(await cutout(), finishing({ format: 'webp' }));
    const meta = await sharp(webp.data).metadata();
    expect([meta.format, meta.hasAlpha]).toEqual(['webp', true]);
  });
});
