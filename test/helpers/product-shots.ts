import sharp from 'sharp';

/**
 * Synthetic product shots with a known object mask, made with sharp: an
 * object layer (SVG) composited over a generated background, optionally
 * JPEG-compressed. Used by the remove-bg quality test and bench.
 */
export interface ProductShot {
  name: string;
  /** The encoded image (PNG or JPEG) the processor receives. */
  input: Buffer;
  width: number;
  height: number;
  /** 1 where the object is (its rendered alpha > 127), row-major. */
  mask: Uint8Array;
}

type Background =
  | { kind: 'plain'; rgb: [number, number, number]; noise?: number }
  | { kind: 'vertical'; from: [number, number, number]; to: [number, number, number]; noise?: number }
  | { kind: 'radial'; centre: [number, number, number]; edge: [number, number, number]; noise?: number };

interface ShotSpec {
  name: string;
  width: number;
  height: number;
  background: Background;
  /** SVG elements of the object (no background). */
  object: string;
  defs?: string;
  jpeg?: number;
}

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(rand: () => number): number {
  const u = Math.max(1e-12, rand());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function background(spec: ShotSpec, seed: number): Buffer {
  const { width: w, height: h, background: bg } = spec;
  const out = Buffer.alloc(w * h * 3);
  const rand = rng(seed);
  const noise = bg.noise ?? 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let c: [number, number, number];
      if (bg.kind === 'plain') c = bg.rgb;
      else if (bg.kind === 'vertical') {
        const t = y / (h - 1);
        c = [0, 1, 2].map((k) => bg.from[k]! + (bg.to[k]! - bg.from[k]!) * t) as [number, number, number];
      } else {
        const dx = (x - w / 2) / (w / 2);
        const dy = (y - h / 2) / (h / 2);
        const t = Math.min(1, (dx * dx + dy * dy) / 2);
        c = [0, 1, 2].map((k) => bg.centre[k]! + (bg.edge[k]! - bg.centre[k]!) * t) as [number, number, number];
      }
      const n = noise ? gaussian(rand) * noise : 0;
      for (let k = 0; k < 3; k++) out[(y * w + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(c[k]! + n)));
    }
  }
  return out;
}

async function render(spec: ShotSpec, seed: number): Promise<ProductShot> {
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${spec.width}" height="${spec.height}">` +
      `<defs>${spec.defs ?? ''}</defs>${spec.object}</svg>`,
  );
  const layer = await sharp(svg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const mask = new Uint8Array(spec.width * spec.height);
  for (let i = 0; i < mask.length; i++) mask[i] = layer.data[i * 4 + 3]! > 127 ? 1 : 0;
  const composed = sharp(background(spec, seed), { raw: { width: spec.width, height: spec.height, channels: 3 } }).composite([
    { input: svg },
  ]);
  const input = spec.jpeg ? await composed.jpeg({ quality: spec.jpeg }).toBuffer() : await composed.png().toBuffer();
  return { name: spec.name, input, width: spec.width, height: spec.height, mask };
}

const W = 480;
const H = 360;
const SPECS: ShotSpec[] = [
  {
    name: 'red disc on white',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [255, 255, 255] },
    object: '<circle cx="240" cy="180" r="110" fill="#c0392b"/>',
  },
  {
    name: 'blue box on light grey, noisy',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [236, 236, 236], noise: 5 },
    object: '<rect x="120" y="70" width="240" height="210" rx="24" fill="#2c5aa0"/>',
  },
  {
    name: 'dark star on vertical gradient',
    width: W,
    height: H,
    background: { kind: 'vertical', from: [250, 250, 250], to: [200, 200, 205] },
    object: '<polygon points="240,40 275,140 380,140 295,200 330,310 240,245 150,310 185,200 100,140 205,140" fill="#333"/>',
  },
  {
    name: 'striped ellipse on off-white, JPEG 80',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [245, 241, 232] },
    defs: '<pattern id="st" width="20" height="20" patternUnits="userSpaceOnUse"><rect width="20" height="20" fill="#1e7b4f"/><rect width="8" height="20" fill="#e0b030"/></pattern>',
    object: '<ellipse cx="240" cy="185" rx="150" ry="100" fill="url(#st)"/>',
    jpeg: 80,
  },
  {
    name: 'gradient bottle on radial vignette',
    width: W,
    height: H,
    background: { kind: 'radial', centre: [250, 250, 250], edge: [190, 195, 200] },
    defs: '<linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#6a1b9a"/><stop offset="1" stop-color="#e040fb"/></linearGradient>',
    object: '<path d="M215 40 h50 v50 q45 25 45 80 v150 q0 20 -20 20 h-100 q-20 0 -20 -20 v-150 q0 -55 45 -80 z" fill="url(#g)"/>',
  },
  {
    name: 'light grey mug on white (low contrast), JPEG 85',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [255, 255, 255] },
    object: '<rect x="150" y="90" width="150" height="190" rx="10" fill="#c8c8c8"/><path d="M300 130 q60 0 60 55 q0 55 -60 55 v-25 q35 0 35 -30 q0 -30 -35 -30 z" fill="#c8c8c8"/>',
    jpeg: 85,
  },
  {
    name: 'shoe cropped by the bottom edge',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [240, 240, 240], noise: 3 },
    object: '<path d="M60 360 L60 220 Q60 170 120 170 L220 170 Q260 230 340 250 Q430 270 430 330 L430 360 Z" fill="#8d4a1f"/>',
  },
  {
    name: 'two items on noisy beige, JPEG 70',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [228, 214, 190], noise: 6 },
    object: '<circle cx="150" cy="180" r="80" fill="#263238"/><rect x="270" y="100" width="130" height="170" rx="8" fill="#b71c1c"/>',
    jpeg: 70,
  },
  {
    name: 'dark box with a white label on white',
    width: W,
    height: H,
    background: { kind: 'plain', rgb: [255, 255, 255], noise: 2 },
    object: '<rect x="110" y="60" width="260" height="240" fill="#1a237e"/><rect x="160" y="130" width="160" height="100" fill="#ffffff"/>',
  },
  {
    name: 'ring with a hole on grey gradient',
    width: W,
    height: H,
    background: { kind: 'vertical', from: [235, 235, 235], to: [215, 215, 215], noise: 3 },
    object: '<circle cx="240" cy="180" r="130" fill="none" stroke="#d4a017" stroke-width="40"/>',
  },
];

export async function productShots(): Promise<ProductShot[]> {
  return Promise.all(SPECS.map((spec, i) => render(spec, 1000 + i)));
}

/** Intersection over union of (alpha > 127) and the known mask. */
export function maskIoU(rgba: Uint8Array, mask: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < mask.length; i++) {
    const a = rgba[i * 4 + 3]! > 127 ? 1 : 0;
    const m = mask[i]!;
    if (a && m) inter++;
    if (a || m) union++;
  }
  return union === 0 ? 1 : inter / union;
}
