/**
 * Offline background removal for the common product shot: an object on a plain,
 * near-plain or smoothly graded background. Pure TypeScript on raw pixel
 * buffers (no ML weights, nothing downloaded). See docs/remove-bg.md.
 *
 * 1. Background model: a quadratic colour surface over the image, fitted in
 *    CIE Lab (and in sRGB for matting) to samples of the border ring by
 *    iteratively trimmed least squares, so a gradient or vignette is modelled
 *    and object pixels touching the border are rejected as outliers.
 * 2. Threshold from the measured background noise (residuals of the inliers).
 * 3. Flood fill from the image border through pixels whose ΔE to the model is
 *    below the threshold: only border-connected background is removed, so
 *    object parts that share the background colour (a white label) survive.
 * 4. Small foreground specks are dropped.
 * 5. Soft edge: in a thin band around the boundary alpha is estimated as the
 *    projection of (C - B) on (F - B), with B the modelled background and F the
 *    nearest confident object colour, then lightly blurred; the edge colour is
 *    decontaminated (the background's share is removed).
 */

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA; the existing alpha is kept as an upper bound). */
  channels: 3 | 4;
}

export interface RemoveBgOptions {
  /** Lower and upper bound of the ΔE threshold (default 8 and 40). */
  minThreshold?: number;
  maxThreshold?: number;
  /** Foreground islands smaller than this fraction of the image are dropped (default 0.0002). */
  minIslandFraction?: number;
}

export interface RemoveBgStats {
  threshold: number;
  noise: number;
  /** Share of the border samples that fit the background model. */
  borderInliers: number;
  /** Share of pixels kept (alpha > 127). */
  foreground: number;
}

export interface RemoveBgResult {
  /** RGBA, width * height * 4 bytes. */
  rgba: Buffer;
  stats: RemoveBgStats;
}

const LIN = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  const c = i / 255;
  LIN[i] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}
const labF = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);

function toLab(r: number, g: number, b: number, out: Float32Array, o: number): void {
  const R = LIN[r]!;
  const G = LIN[g]!;
  const B = LIN[b]!;
  const fx = labF((0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047);
  const fy = labF(0.2126 * R + 0.7152 * G + 0.0722 * B);
  const fz = labF((0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883);
  out[o] = 116 * fy - 16;
  out[o + 1] = 500 * (fx - fy);
  out[o + 2] = 200 * (fy - fz);
}

/** Solves M x = rhs (6x6, several right-hand sides) by Gaussian elimination; null when singular. */
function solve(M: number[][], rhs: number[][]): number[][] | null {
  const n = M.length;
  const A = M.map((row, i) => [...row, ...rhs[i]!]);
  const m = rhs[0]!.length;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    if (Math.abs(A[p]![c]!) < 1e-9) return null;
    [A[c], A[p]] = [A[p]!, A[c]!];
    const piv = A[c]!;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const row = A[r]!;
      const f = row[c]! / piv[c]!;
      if (f === 0) continue;
      for (let k = c; k < n + m; k++) row[k]! -= f * piv[k]!;
    }
  }
  return A.map((row, i) => row.slice(n).map((v) => v / row[i]!));
}

function median(values: Float64Array, count: number): number {
  const a = Array.from(values.subarray(0, count)).sort((x, y) => x - y);
  return a.length ? a[a.length >> 1]! : 0;
}
function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const a = [...values].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.floor(p * a.length))]!;
}

/** Coefficients per channel (L, a, b, R, G, B) of c0 + c1 u + c2 v + c3 u² + c4 uv + c5 v². */
type Surface = number[][];

function fitSurface(u: Float64Array, v: Float64Array, vals: Float64Array[], weights: Uint8Array, terms: number): Surface | null {
  const n = u.length;
  const M = Array.from({ length: terms }, () => new Array<number>(terms).fill(0));
  const R = Array.from({ length: terms }, () => new Array<number>(vals.length).fill(0));
  const basis = new Array<number>(6);
  for (let i = 0; i < n; i++) {
    if (!weights[i]) continue;
    const x = u[i]!;
    const y = v[i]!;
    basis[0] = 1;
    basis[1] = x;
    basis[2] = y;
    basis[3] = x * x;
    basis[4] = x * y;
    basis[5] = y * y;
    for (let r = 0; r < terms; r++) {
      const br = basis[r]!;
      const Mr = M[r]!;
      for (let c = 0; c < terms; c++) Mr[c]! += br * basis[c]!;
      const Rr = R[r]!;
      for (let k = 0; k < vals.length; k++) Rr[k]! += br * vals[k]![i]!;
    }
  }
  const sol = solve(M, R);
  if (!sol) return null;
  // transpose to [channel][term], padding missing terms with 0
  return vals.map((_, k) => Array.from({ length: 6 }, (_, t) => (t < terms ? sol[t]![k]! : 0)));
}

export function removeBackground(img: RawImage, options: RemoveBgOptions = {}): RemoveBgResult {
  const { width: w, height: h, channels: ch, data } = img;
  const N = w * h;
  if (N === 0) throw new Error('empty image');
  const minT = options.minThreshold ?? 8;
  const maxT = options.maxThreshold ?? 40;

  const lab = new Float32Array(3); // scratch: Lab is computed on the fly (memory: ~19 bytes per pixel in all)

  // --- 1. border samples -------------------------------------------------------------
  const ring = Math.max(2, Math.round(Math.min(w, h) * 0.01));
  const borderIdx: number[] = [];
  for (let y = 0; y < h; y++) {
    if (y < ring || y >= h - ring) {
      for (let x = 0; x < w; x++) borderIdx.push(y * w + x);
    } else {
      for (let x = 0; x < Math.min(ring, w); x++) borderIdx.push(y * w + x);
      for (let x = Math.max(ring, w - ring); x < w; x++) borderIdx.push(y * w + x);
    }
  }
  const stride = Math.max(1, Math.floor(borderIdx.length / 20_000));
  const S = Math.ceil(borderIdx.length / stride);
  const su = new Float64Array(S);
  const sv = new Float64Array(S);
  const vals = Array.from({ length: 6 }, () => new Float64Array(S));
  const sx = w > 1 ? 2 / (w - 1) : 0;
  const sy = h > 1 ? 2 / (h - 1) : 0;
  for (let s = 0, j = 0; j < borderIdx.length; j += stride, s++) {
    const i = borderIdx[j]!;
    const x = i % w;
    const y = (i - x) / w;
    su[s] = x * sx - 1;
    sv[s] = y * sy - 1;
    toLab(data[i * ch]!, data[i * ch + 1]!, data[i * ch + 2]!, lab, 0);
    vals[0]![s] = lab[0]!;
    vals[1]![s] = lab[1]!;
    vals[2]![s] = lab[2]!;
    vals[3]![s] = data[i * ch]!;
    vals[4]![s] = data[i * ch + 1]!;
    vals[5]![s] = data[i * ch + 2]!;
  }

  // --- 2. robust surface fit: start from the median colour, then trimmed least squares ---
  const weights = new Uint8Array(S).fill(1);
  const res = new Float64Array(S);
  const medianColour = vals.map((c) => median(c, S));
  let surface: Surface = medianColour.map((m) => [m, 0, 0, 0, 0, 0]);
  const residuals = (sf: Surface) => {
    for (let s = 0; s < S; s++) {
      const x = su[s]!;
      const y = sv[s]!;
      let d2 = 0;
      for (let k = 0; k < 3; k++) {
        const c = sf[k]!;
        const pred = c[0]! + c[1]! * x + c[2]! * y + c[3]! * x * x + c[4]! * x * y + c[5]! * y * y;
        const diff = vals[k]![s]! - pred;
        d2 += diff * diff;
      }
      res[s] = Math.sqrt(d2);
    }
  };
  const trim = (floor: number) => {
    const med = median(res, S);
    const cut = Math.max(floor, 3 * med);
    let inl = 0;
    for (let s = 0; s < S; s++) {
      weights[s] = res[s]! <= cut ? 1 : 0;
      inl += weights[s]!;
    }
    return inl;
  };
  residuals(surface);
  trim(10); // generous first cut around the median colour: rejects the object, keeps a gradient
  for (const terms of [3, 6, 6, 6]) {
    const fitted = fitSurface(su, sv, vals, weights, terms);
    if (fitted) surface = fitted;
    residuals(surface);
    trim(4);
  }
  const inlierRes: number[] = [];
  for (let s = 0; s < S; s++) if (weights[s]) inlierRes.push(res[s]!);
  const noise = percentile(inlierRes, 0.9);
  const T = Math.min(maxT, Math.max(minT, 2.5 * noise + 5));
  const T2 = T * T;

  // --- 3. per-pixel ΔE² to the model ------------------------------------------------------
  const dist2 = new Float32Array(N);
  const cL = surface[0]!;
  const cA = surface[1]!;
  const cB = surface[2]!;
  for (let y = 0; y < h; y++) {
    const v = y * sy - 1;
    const rowCoef = (c: number[]) => [c[0]! + c[2]! * v + c[5]! * v * v, c[1]! + c[4]! * v, c[3]!] as const;
    const [l0, l1, l2] = rowCoef(cL);
    const [a0, a1, a2] = rowCoef(cA);
    const [b0, b1, b2] = rowCoef(cB);
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const u = x * sx - 1;
      const uu = u * u;
      toLab(data[i * ch]!, data[i * ch + 1]!, data[i * ch + 2]!, lab, 0);
      const dl = lab[0]! - (l0 + l1 * u + l2 * uu);
      const da = lab[1]! - (a0 + a1 * u + a2 * uu);
      const db = lab[2]! - (b0 + b1 * u + b2 * uu);
      dist2[i] = dl * dl + da * da + db * db;
    }
  }

  // --- 4. flood fill from the border ---------------------------------------------------
  const bg = new Uint8Array(N);
  const queue = new Int32Array(N);
  let head = 0;
  let tail = 0;
  const seed = (i: number) => {
    if (!bg[i] && dist2[i]! < T2) {
      bg[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let x = 0; x < w; x++) {
    seed(x);
    seed((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    seed(y * w);
    seed(y * w + w - 1);
  }
  while (head < tail) {
    const i = queue[head++]!;
    const x = i % w;
    if (x > 0) seed(i - 1);
    if (x < w - 1) seed(i + 1);
    if (i >= w) seed(i - w);
    if (i < N - w) seed(i + w);
  }

  // --- 5. drop small foreground islands (8-connected) -----------------------------------
  const minIsland = Math.max(8, Math.round(N * (options.minIslandFraction ?? 0.0002)));
  const seen = new Uint8Array(N);
  for (let start = 0; start < N; start++) {
    if (bg[start] || seen[start]) continue;
    head = 0;
    tail = 0;
    queue[tail++] = start;
    seen[start] = 1;
    while (head < tail) {
      const i = queue[head++]!;
      const x = i % w;
      const y = (i - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (!bg[j] && !seen[j]) {
            seen[j] = 1;
            queue[tail++] = j;
          }
        }
      }
    }
    if (tail < minIsland) for (let k = 0; k < tail; k++) bg[queue[k]!] = 1;
  }

  // --- 6. soft edge in a thin band around the boundary ----------------------------------
  const alpha = new Float32Array(N);
  const band = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    alpha[i] = bg[i] ? 0 : 1;
    const x = i % w;
    const b = bg[i];
    if ((x > 0 && bg[i - 1] !== b) || (x < w - 1 && bg[i + 1] !== b) || (i >= w && bg[i - w] !== b) || (i < N - w && bg[i + w] !== b)) {
      band[i] = 1;
    }
  }
  // widen the band by one pixel
  const edge: number[] = [];
  for (let i = 0; i < N; i++) if (band[i] === 1) edge.push(i);
  for (const i of edge) {
    const x = i % w;
    const y = (i - x) / w;
    for (let dy = -1; dy <= 1; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if (xx >= 0 && xx < w && !band[yy * w + xx]) band[yy * w + xx] = 2;
      }
    }
  }
  const R = 4;
  const out = Buffer.alloc(N * 4);
  for (let i = 0, p = 0; i < N; i++, p += ch) {
    out[i * 4] = data[p]!;
    out[i * 4 + 1] = data[p + 1]!;
    out[i * 4 + 2] = data[p + 2]!;
  }
  const predRgb = (x: number, y: number, k: number) => {
    const c = surface[3 + k]!;
    const u = x * sx - 1;
    const v = y * sy - 1;
    return c[0]! + c[1]! * u + c[2]! * v + c[3]! * u * u + c[4]! * u * v + c[5]! * v * v;
  };
  const bandIdx: number[] = [];
  for (let i = 0; i < N; i++) {
    if (!band[i]) continue;
    bandIdx.push(i);
    const x = i % w;
    const y = (i - x) / w;
    let best = -1;
    let bestD = Infinity;
    for (let dy = -R; dy <= R; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      for (let dx = -R; dx <= R; dx++) {
        const xx = x + dx;
        if (xx < 0 || xx >= w) continue;
        const j = yy * w + xx;
        if (bg[j] || band[j]) continue;
        const dd = dx * dx + dy * dy;
        if (dd < bestD) {
          bestD = dd;
          best = j;
        }
      }
    }
    const Br = predRgb(x, y, 0);
    const Bg = predRgb(x, y, 1);
    const Bb = predRgb(x, y, 2);
    const d = Math.sqrt(dist2[i]!);
    const ramp = Math.min(1, Math.max(0, (d - T) / T)); // 0 at T, 1 at 2T
    let a = bg[i] ? 0 : 1;
    let explained = false;
    if (best >= 0) {
      const Fr = data[best * ch]! - Br;
      const Fg = data[best * ch + 1]! - Bg;
      const Fb = data[best * ch + 2]! - Bb;
      const ff = Fr * Fr + Fg * Fg + Fb * Fb;
      if (ff > 100) {
        const p = i * ch;
        const Cr = data[p]! - Br;
        const Cg = data[p + 1]! - Bg;
        const Cb = data[p + 2]! - Bb;
        const proj = (Cr * Fr + Cg * Fg + Cb * Fb) / ff;
        const cc = Cr * Cr + Cg * Cg + Cb * Cb;
        // C is a mix of F and B when it lies close to the segment B-F
        const perp2 = Math.max(0, cc - proj * proj * ff);
        explained = perp2 <= 0.25 * cc + 36;
        a = Math.min(1, Math.max(0, proj));
      }
    }
    // not a mix of the nearby object colour and the background, and far from the
    // background: another part of the object, keep it opaque
    if (!bg[i] && !explained) a = Math.max(a, ramp);
    else a = Math.min(a, 0.5 + 0.5 * (d / T)); // background by the fill: never fully opaque by matting alone
    alpha[i] = a;
  }
  // light blur of the band (3x3, 1-2-1)
  const blurred = new Float32Array(bandIdx.length);
  bandIdx.forEach((i, k) => {
    const x = i % w;
    const y = (i - x) / w;
    let sum = 0;
    let wsum = 0;
    for (let dy = -1; dy <= 1; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if (xx < 0 || xx >= w) continue;
        const wt = (dx === 0 ? 2 : 1) * (dy === 0 ? 2 : 1);
        sum += wt * alpha[yy * w + xx]!;
        wsum += wt;
      }
    }
    blurred[k] = sum / wsum;
  });
  bandIdx.forEach((i, k) => {
    const a = blurred[k]!;
    alpha[i] = a;
    if (a > 0.02 && a < 0.98) {
      const x = i % w;
      const y = (i - x) / w;
      for (let c = 0; c < 3; c++) {
        const B = predRgb(x, y, c);
        const C = data[i * ch + c]!;
        out[i * 4 + c] = Math.min(255, Math.max(0, Math.round(B + (C - B) / a)));
      }
    }
  });

  let kept = 0;
  for (let i = 0; i < N; i++) {
    let a = Math.round(alpha[i]! * 255);
    if (ch === 4) a = Math.round((a * data[i * 4 + 3]!) / 255);
    out[i * 4 + 3] = a;
    if (a > 127) kept++;
  }
  return {
    rgba: out,
    stats: {
      threshold: T,
      noise,
      borderInliers: inlierRes.length / S,
      foreground: kept / N,
    },
  };
}
