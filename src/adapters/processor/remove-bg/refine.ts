/**
 * Mask refinement on plain pixel arrays (no I/O): the model's low-resolution
 * probability is turned into a full-resolution alpha that follows the image's
 * own edges (a fast guided filter), enclosed background is cut out, and edge
 * colours are decontaminated. See docs/remove-bg.md.
 */

/** Source index pairs and weights of a bilinear resampling along one axis (pixel centres aligned). */
export interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  t: Float64Array;
}

export function bilinearTaps(src: number, dst: number): AxisTaps {
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const t = new Float64Array(dst);
  const k = src / dst;
  for (let d = 0; d < dst; d++) {
    const f = Math.max(0, Math.min(src - 1, (d + 0.5) * k - 0.5));
    i0[d] = Math.floor(f);
    i1[d] = Math.min(src - 1, i0[d]! + 1);
    t[d] = f - i0[d]!;
  }
  return { i0, i1, t };
}

/** Bilinear resampling of a one-channel float image (pixel centres aligned). */
export function resizeBilinear(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const out = new Float32Array(dw * dh);
  const xs = bilinearTaps(sw, dw);
  const ys = bilinearTaps(sh, dh);
  for (let y = 0; y < dh; y++) {
    const r0 = ys.i0[y]! * sw;
    const r1 = ys.i1[y]! * sw;
    const ty = ys.t[y]!;
    const row = y * dw;
    for (let x = 0; x < dw; x++) {
      const x0 = xs.i0[x]!;
      const x1 = xs.i1[x]!;
      const tx = xs.t[x]!;
      const top = src[r0 + x0]! * (1 - tx) + src[r0 + x1]! * tx;
      const bottom = src[r1 + x0]! * (1 - tx) + src[r1 + x1]! * tx;
      out[row + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/**
 * Mean over a (2r+1)² window, clipped at the borders (two running-sum passes).
 * `out` may be `src` itself (the source is read in the first pass only), and a
 * caller filtering several planes passes one `scratch` plane for all of them.
 */
export function boxMean(
  src: Float32Array,
  w: number,
  h: number,
  r: number,
  out: Float32Array = new Float32Array(w * h),
  scratch: Float32Array = new Float32Array(w * h),
): Float32Array {
  const tmp = scratch;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let sum = 0;
    for (let x = 0; x <= Math.min(r, w - 1); x++) sum += src[row + x]!;
    for (let x = 0; x < w; x++) {
      const lo = x - r - 1;
      const hi = x + r;
      if (x > 0 && hi < w) sum += src[row + hi]!;
      if (lo >= 0) sum -= src[row + lo]!;
      tmp[row + x] = sum / (Math.min(w - 1, hi) - Math.max(0, x - r) + 1);
    }
  }
  // the columns' running sums advance row by row (a column walk strides through memory);
  // each column sees the same additions in the same order
  const sums = new Float64Array(w);
  for (let y = 0; y <= Math.min(r, h - 1); y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) sums[x] = sums[x]! + tmp[row + x]!;
  }
  for (let y = 0; y < h; y++) {
    const lo = y - r - 1;
    const hi = y + r;
    const count = Math.min(h - 1, hi) - Math.max(0, y - r) + 1;
    const row = y * w;
    if (y > 0 && hi < h) for (let x = 0, j = hi * w; x < w; x++) sums[x] = sums[x]! + tmp[j + x]!;
    if (lo >= 0) for (let x = 0, j = lo * w; x < w; x++) sums[x] = sums[x]! - tmp[j + x]!;
    for (let x = 0; x < w; x++) out[row + x] = sums[x]! / count;
  }
  return out;
}

/**
 * He et al.'s guided filter with a grey guide: q = a·I + b locally, so the
 * filtered mask takes its edges from the image. Returns the smoothed a and b,
 * which can be upsampled and applied to a larger guide (the "fast" variant).
 */
export function guidedFilterCoefficients(
  guide: Float32Array,
  p: Float32Array,
  w: number,
  h: number,
  r: number,
  eps: number,
): { a: Float32Array; b: Float32Array } {
  const n = w * h;
  const ip = new Float32Array(n);
  const ii = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    ip[i] = guide[i]! * p[i]!;
    ii[i] = guide[i]! * guide[i]!;
  }
  // five planes in all: the products are filtered in place, a and b take their places
  const scratch = new Float32Array(n);
  const meanI = boxMean(guide, w, h, r, undefined, scratch);
  const meanP = boxMean(p, w, h, r, undefined, scratch);
  const corrIp = boxMean(ip, w, h, r, ip, scratch);
  const corrIi = boxMean(ii, w, h, r, ii, scratch);
  const a = corrIp;
  const b = corrIi;
  for (let i = 0; i < n; i++) {
    const varI = corrIi[i]! - meanI[i]! * meanI[i]!;
    const covIp = corrIp[i]! - meanI[i]! * meanP[i]!;
    a[i] = covIp / (varI + eps);
    b[i] = meanP[i]! - a[i]! * meanI[i]!;
  }
  return { a: boxMean(a, w, h, r, a, scratch), b: boxMean(b, w, h, r, b, scratch) };
}

/** Luminance (0..1) of interleaved 8-bit RGB(A) pixels. */
export function luminance(pixels: Uint8Array, channels: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    out[i] = (0.299 * pixels[o]! + 0.587 * pixels[o + 1]! + 0.114 * pixels[o + 2]!) / 255;
  }
  return out;
}

/** Labels of 4-connected regions where `inside[i]` is set; returns the labels (0 = outside) and the count. */
export function connectedRegions(inside: Uint8Array, w: number, h: number): { labels: Int32Array; count: number } {
  const labels = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  let count = 0;
  for (let start = 0; start < inside.length; start++) {
    if (!inside[start] || labels[start]) continue;
    count++;
    let top = 0;
    stack[top++] = start;
    labels[start] = count;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % w;
      // no closure per pixel: left, right, up, down
      for (let k = 0; k < 4; k++) {
        const j = k === 0 ? (x > 0 ? i - 1 : -1) : k === 1 ? (x < w - 1 ? i + 1 : -1) : k === 2 ? i - w : i + w;
        if (j < 0 || j >= inside.length || !inside[j] || labels[j]) continue;
        labels[j] = count;
        stack[top++] = j;
      }
    }
  }
  return { labels, count };
}

/**
 * The background colour behind every pixel, interpolated from the pixels the
 * mask calls background (normalised convolution, growing windows until each
 * pixel has enough background around it). Smooth, so it follows gradients and
 * two-tone sets. Interleaved RGB floats.
 */
export function backgroundEstimate(rgb: Uint8Array, background: Uint8Array, w: number, h: number): Float32Array {
  const n = w * h;
  const out = new Float32Array(n * 3);
  const done = new Uint8Array(n);
  const weight = new Float32Array(n);
  for (let i = 0; i < n; i++) weight[i] = background[i]!;
  const side = Math.max(w, h);
  for (const r of [Math.round(side / 32), Math.round(side / 8), Math.round(side / 3), side]) {
    const wMean = boxMean(weight, w, h, Math.max(1, r));
    const sums = [0, 1, 2].map((c) => {
      const ch = new Float32Array(n);
      for (let i = 0; i < n; i++) ch[i] = background[i]! * rgb[i * 3 + c]!;
      return boxMean(ch, w, h, Math.max(1, r));
    });
    for (let i = 0; i < n; i++) {
      if (done[i] || (wMean[i]! < 0.02 && r < side)) continue;
      const wi = Math.max(wMean[i]!, 1e-6);
      for (let c = 0; c < 3; c++) out[i * 3 + c] = sums[c]![i]! / wi;
      done[i] = 1;
    }
  }
  return out;
}

/** The model's mean probability above which a background-coloured enclosed region is trusted as object. */
const MAX_HOLE_CERTAINTY = 0.97;
/** An enclosed background-coloured region at least this share of the object's area is a hole however certain the model is. */
const LARGE_HOLE_SHARE = 0.2;

/**
 * Regions the mask calls object that show the background through a hole (a
 * ring, a handle, the gap between an arm and a body): object pixels close to
 * the estimated background colour, forming a region of some size that is
 * enclosed by the object (it touches neither the outer background nor the
 * frame), bounded by a real edge in the image, and where the model is less
 * than certain (a printed surface scores ~1.0, a filled hole lower). A white
 * label reaching the object's outline is kept. Runs at the model's size;
 * returns 1 where a hole is.
 */
export function enclosedBackground(rgb: Uint8Array, prob: Float32Array, w: number, h: number): Uint8Array {
  const n = w * h;
  const object = new Uint8Array(n);
  for (let i = 0; i < n; i++) object[i] = prob[i]! > 0.5 ? 1 : 0;
  const holes = new Uint8Array(n);
  const background = new Uint8Array(n);
  for (let i = 0; i < n; i++) background[i] = object[i] ? 0 : 1;
  // only the background reached from the frame counts as "outside"
  const outside = connectedRegions(background, w, h);
  const outerLabel = new Uint8Array(outside.count + 1);
  for (let x = 0; x < w; x++) {
    outerLabel[outside.labels[x]!] = 1;
    outerLabel[outside.labels[(h - 1) * w + x]!] = 1;
  }
  for (let y = 0; y < h; y++) {
    outerLabel[outside.labels[y * w]!] = 1;
    outerLabel[outside.labels[y * w + w - 1]!] = 1;
  }
  outerLabel[0] = 0;
  const outer = new Uint8Array(n);
  let outerCount = 0;
  for (let i = 0; i < n; i++) {
    if (!outerLabel[outside.labels[i]!]) continue;
    outer[i] = 1;
    outerCount++;
  }
  if (outerCount < n * 0.01 || outerCount === n) return holes;

  const bg = backgroundEstimate(rgb, outer, w, h);
  // each pixel's distance to the background colour and its luminance, once (read many times below)
  const distance = new Float64Array(n);
  const luma = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    distance[i] = Math.hypot(rgb[i * 3]! - bg[i * 3]!, rgb[i * 3 + 1]! - bg[i * 3 + 1]!, rgb[i * 3 + 2]! - bg[i * 3 + 2]!);
    luma[i] = 0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!;
  }
  // the background's own spread (grain, texture, JPEG) sets the tolerance
  const residuals: number[] = [];
  const step = Math.max(1, Math.floor(outerCount / 20000));
  for (let i = 0, seen = 0; i < n; i++) if (outer[i] && seen++ % step === 0) residuals.push(distance[i]!);
  residuals.sort((a, b) => a - b);
  const tolerance = Math.min(30, Math.max(8, 3 * residuals[Math.floor(residuals.length * 0.5)]! + 6));

  const candidate = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (object[i] && distance[i]! < tolerance) candidate[i] = 1;
  const { labels, count } = connectedRegions(candidate, w, h);
  const area = new Int32Array(count + 1);
  const excluded = new Uint8Array(count + 1);
  const edgeSum = new Float64Array(count + 1);
  const edgeCount = new Int32Array(count + 1);
  const probSum = new Float64Array(count + 1);
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (!l) continue;
    area[l]!++;
    probSum[l] = probSum[l]! + prob[i]!;
    const x = i % w;
    const y = (i - x) / w;
    if (x === 0 || y === 0 || x === w - 1 || y === h - 1) {
      excluded[l] = 1;
      continue;
    }
    for (let d = 0; d < 4; d++) {
      const step = d === 0 ? -1 : d === 1 ? 1 : d === 2 ? -w : w;
      const j = i + step;
      if (outer[j]) excluded[l] = 1;
      else if (object[j] && !candidate[j]) {
        // a boundary pixel: how strong is the image edge here (two pixels across)?
        const k = j + step;
        const far = k >= 0 && k < n ? k : j;
        const back = i - step;
        edgeSum[l] = edgeSum[l]! + Math.abs(luma[far]! - luma[back >= 0 && back < n ? back : i]!);
        edgeCount[l]!++;
      }
    }
  }
  const minArea = Math.max(16, n * 0.0005);
  let objectArea = 0;
  for (let i = 0; i < n; i++) objectArea += object[i]!;
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (!l || excluded[l] || area[l]! < minArea) continue;
    if (edgeCount[l]! === 0 || edgeSum[l]! / edgeCount[l]! < tolerance) continue;
    // the model's certainty decides small regions only: it fills a large opening (a ring's) wholesale
    if (area[l]! < LARGE_HOLE_SHARE * objectArea && probSum[l]! / area[l]! > MAX_HOLE_CERTAINTY) continue;
    if (area[l]! / edgeCount[l]! < 3) continue; // a thin strip along an outline, not a hole
    holes[i] = 1;
  }
  // A hole grows into neighbouring object pixels that continue it smoothly (no edge
  // between them) and stay near its own colour or the background's: a shadow or gradient
  // across the hole (near the object the background estimate mixes in the cast shadow).
  const mean = new Float64Array((count + 1) * 3);
  for (let i = 0; i < n; i++) {
    if (!holes[i]) continue;
    const l = labels[i]!;
    for (let c = 0; c < 3; c++) mean[l * 3 + c] = mean[l * 3 + c]! + rgb[i * 3 + c]! / area[l]!;
  }
  const owner = Int32Array.from(labels, (l, i) => (holes[i] ? l : 0));
  const stack = new Int32Array(n); // each pixel is pushed at most once (when it becomes a hole)
  let top = 0;
  for (let i = 0; i < n; i++) if (holes[i]) stack[top++] = i;
  while (top > 0) {
    const i = stack[--top]!;
    const x = i % w;
    const l = owner[i]!;
    for (let d = 0; d < 4; d++) {
      const j = d === 0 ? (x > 0 ? i - 1 : -1) : d === 1 ? (x < w - 1 ? i + 1 : -1) : d === 2 ? i - w : i + w;
      if (j < 0 || j >= n || holes[j] || !object[j]) continue;
      if (
        distance[j]! >= 3 * tolerance &&
        Math.hypot(rgb[j * 3]! - mean[l * 3]!, rgb[j * 3 + 1]! - mean[l * 3 + 1]!, rgb[j * 3 + 2]! - mean[l * 3 + 2]!) >= 3 * tolerance
      )
        continue; // neither near the background's colour nor the hole's own
      if (Math.abs(luma[j]! - luma[i]!) >= tolerance / 2) continue;
      holes[j] = 1;
      owner[j] = l;
      stack[top++] = j;
    }
  }
  return holes;
}

export interface EdgeColours {
  /**
   * Pixel `i`'s two colours (computed on its first call): the offset in
   * `values` of its object RGB, followed by its background RGB. `values` may
   * be replaced by a call, so read it after the last one.
   */
  at(i: number): number;
  readonly values: Float32Array;
}

/**
 * Local estimates of the object's and the background's colour (interleaved
 * RGB floats): means over a (2r+1)² window weighted by α² and (1 − α)², so an
 * edge pixel knows both colours it is a mix of. Only the pixels around the
 * soft edge are ever asked for, so each is summed on demand (a window of ~50
 * pixels) instead of box-filtering eight whole planes.
 */
export function edgeColours(rgb: Uint8Array, alpha: Float32Array, w: number, h: number, r: number): EdgeColours {
  const n = w * h;
  // compact: 1 + the index of a pixel's six values, 0 while not computed (a few per cent are)
  const slot = new Int32Array(n);
  let values = new Float32Array(6 * 4096);
  let used = 0;
  // float32 weights and weighted channels, as the planes they stand for
  const objectWeight = new Float32Array(n);
  const backgroundWeight = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = alpha[i]!;
    objectWeight[i] = a * a;
    backgroundWeight[i] = (1 - a) * (1 - a);
  }
  const f32 = Math.fround;
  const compute = (i: number): number => {
      if (used * 6 === values.length) {
        const grown = new Float32Array(values.length * 2);
        grown.set(values);
        values = grown;
      }
      const o = used++ * 6;
      slot[i] = used;
      const x = i % w;
      const y = (i - x) / w;
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(w - 1, x + r);
      const y0 = Math.max(0, y - r);
      const y1 = Math.min(h - 1, y + r);
      let wo = 0;
      let wb = 0;
      let o0 = 0;
      let o1 = 0;
      let o2 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      for (let yy = y0; yy <= y1; yy++) {
        for (let j = yy * w + x0, end = yy * w + x1; j <= end; j++) {
          const fo = objectWeight[j]!;
          const fb = backgroundWeight[j]!;
          const k = j * 3;
          wo += fo;
          wb += fb;
          o0 += f32(fo * rgb[k]!);
          o1 += f32(fo * rgb[k + 1]!);
          o2 += f32(fo * rgb[k + 2]!);
          b0 += f32(fb * rgb[k]!);
          b1 += f32(fb * rgb[k + 1]!);
          b2 += f32(fb * rgb[k + 2]!);
        }
      }
      const count = (x1 - x0 + 1) * (y1 - y0 + 1);
      const c = i * 3;
      // a mean weight too small to trust keeps the pixel's own colour
      const mo = f32(wo / count);
      const mb = f32(wb / count);
      values[o] = mo > 1e-4 ? f32(o0 / count) / mo : rgb[c]!;
      values[o + 1] = mo > 1e-4 ? f32(o1 / count) / mo : rgb[c + 1]!;
      values[o + 2] = mo > 1e-4 ? f32(o2 / count) / mo : rgb[c + 2]!;
      values[o + 3] = mb > 1e-4 ? f32(b0 / count) / mb : rgb[c]!;
      values[o + 4] = mb > 1e-4 ? f32(b1 / count) / mb : rgb[c + 1]!;
      values[o + 5] = mb > 1e-4 ? f32(b2 / count) / mb : rgb[c + 2]!;
      return o;
  };
  return {
    at: (i) => (slot[i] ? (slot[i]! - 1) * 6 : compute(i)),
    get values() {
      return values;
    },
  };
}

/** Bilinear interpolation between four samples of `src` (top left, top right, bottom left, bottom right). */
export function bilerp(src: Float32Array, i00: number, i01: number, i10: number, i11: number, tx: number, ty: number): number {
  return (src[i00]! * (1 - tx) + src[i01]! * tx) * (1 - ty) + (src[i10]! * (1 - tx) + src[i11]! * tx) * ty;
}
