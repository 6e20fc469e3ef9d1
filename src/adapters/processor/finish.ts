import sharp, { type OverlayOptions } from 'sharp';
import { type Finishing, resultFormat } from '../../modules/images/finishing.js';

export interface FinishedImage {
  data: Buffer;
  format: Finishing['format'];
  contentType: string;
  ext: string;
}

/** A square canvas never grows past this side (a small object with a large padding). */
const MAX_CANVAS_SIDE = 4096;
/** Alpha above this counts as the object for its bounding box. */
const BOX_ALPHA = 24;

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

function boundingBox(alpha: Buffer, w: number, h: number): Box | null {
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (alpha[row + x]! <= BOX_ALPHA) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : { left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/**
 * A soft contact shadow under the object: its own silhouette squashed to a thin
 * band at its base, blurred, at 45 % black. Returns an RGBA PNG and where its
 * top-left goes relative to the object's box.
 */
async function contactShadow(object: Buffer, box: Box): Promise<{ input: Buffer; dx: number; dy: number }> {
  const band = Math.max(2, Math.round(box.height * 0.06));
  const blur = Math.max(1, box.width * 0.025);
  const margin = Math.ceil(blur * 3);
  const alpha = await sharp(object)
    .extractChannel(3)
    .resize(box.width, band, { fit: 'fill' })
    .extend({ top: margin, bottom: margin, left: margin, right: margin, background: '#000000' })
    .blur(blur)
    .linear(0.45, 0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const black = Buffer.alloc(alpha.info.width * alpha.info.height * 3);
  const input = await sharp(black, { raw: { width: alpha.info.width, height: alpha.info.height, channels: 3 } })
    .joinChannel(alpha.data, { raw: { width: alpha.info.width, height: alpha.info.height, channels: 1 } })
    .png()
    .toBuffer();
  // centred on the object's base line, half of the band below it
  return { input, dx: -margin, dy: box.height - Math.round(band / 2) - margin };
}

const clampInt = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(v)));

/**
 * Turns a cut-out (an encoded PNG with alpha) into the finished result
 * (docs/api.md, "Finishing options"): a transparent or coloured background;
 * `square` framing puts the object's bounding box in the centre of a square
 * canvas with `padding` % of the side free on each side of its longer
 * dimension; `soft` adds a contact shadow derived from the mask; encoded as
 * `format`. sharp only: cheap for the event loop, so the MakeIt3D path may call it.
 */
export async function applyFinishing(rgbaCutout: Buffer, finishing: Finishing): Promise<FinishedImage> {
  const { ext, contentType } = resultFormat(finishing);
  const decoded = await sharp(rgbaCutout).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = decoded.info;
  const alpha = Buffer.alloc(w * h);
  for (let i = 0; i < w * h; i++) alpha[i] = decoded.data[i * 4 + 3]!;
  const box = boundingBox(alpha, w, h) ?? { left: 0, top: 0, width: w, height: h };

  let object = await sharp(decoded.data, { raw: { width: w, height: h, channels: 4 } })
    .extract(box)
    .png()
    .toBuffer();
  let objectBox = { ...box };
  let canvas = { width: w, height: h };
  if (finishing.framing === 'square') {
    const free = 1 - (2 * finishing.padding) / 100;
    let side = Math.ceil(Math.max(box.width, box.height) / free);
    if (side > MAX_CANVAS_SIDE) {
      const k = MAX_CANVAS_SIDE / side;
      side = MAX_CANVAS_SIDE;
      const width = Math.max(1, Math.round(box.width * k));
      const height = Math.max(1, Math.round(box.height * k));
      object = await sharp(object).resize(width, height, { fit: 'fill' }).png().toBuffer();
      objectBox = { left: 0, top: 0, width, height };
    }
    objectBox.left = Math.round((side - objectBox.width) / 2);
    objectBox.top = Math.round((side - objectBox.height) / 2);
    canvas = { width: side, height: side };
  }

  const layers: OverlayOptions[] = [];
  if (finishing.shadow === 'soft') {
    const shadow = await contactShadow(object, objectBox);
    const meta = await sharp(shadow.input).metadata();
    // clip the shadow to the canvas (composite refuses overlays larger than the base)
    const left = objectBox.left + shadow.dx;
    const top = objectBox.top + shadow.dy;
    const cx = clampInt(-left, 0, meta.width!);
    const cy = clampInt(-top, 0, meta.height!);
    const cw = Math.min(meta.width! - cx, canvas.width - Math.max(0, left));
    const ch = Math.min(meta.height! - cy, canvas.height - Math.max(0, top));
    if (cw > 0 && ch > 0) {
      const input = await sharp(shadow.input).extract({ left: cx, top: cy, width: cw, height: ch }).png().toBuffer();
      layers.push({ input, left: Math.max(0, left), top: Math.max(0, top) });
    }
  }
  layers.push({ input: object, left: objectBox.left, top: objectBox.top });

  const opaque = finishing.background !== 'transparent';
  const background = opaque ? finishing.background : { r: 0, g: 0, b: 0, alpha: 0 };
  let image = sharp({ create: { ...canvas, channels: 4, background } }).composite(layers);
  if (opaque) image = sharp(await image.png().toBuffer()).flatten({ background: finishing.background });
  const data =
    finishing.format === 'jpeg'
      ? await image.jpeg({ quality: 90, mozjpeg: false }).toBuffer()
      : finishing.format === 'webp'
        ? await image.webp({ quality: 90, alphaQuality: 100 }).toBuffer()
        : await image.png({ compressionLevel: 6 }).toBuffer();
  return { data, format: finishing.format, contentType, ext };
}
