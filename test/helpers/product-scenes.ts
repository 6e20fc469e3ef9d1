import sharp from 'sharp';
import { gaussian, type ProductShot, rng } from './product-shots.js';

/**
 * Realistic product scenes with ground-truth masks, rendered at any size from
 * one 1000-unit SVG description: textured and two-tone backdrops, soft cast
 * and contact shadows (drawn on the backdrop, so they count as background),
 * soft and furry edges, see-through holes, glass, low contrast, JPEG noise.
 * The mask is the object layer's alpha > 127.
 */
export type Rgb = [number, number, number];

type Backdrop =
  | { kind: 'texture'; base: Rgb; amplitude: number; scale: number; grain: number }
  | { kind: 'vertical'; from: Rgb; to: Rgb; grain: number }
  | { kind: 'radial'; centre: Rgb; edge: Rgb; grain: number }
  | { kind: 'two-tone'; wall: Rgb; table: Rgb; horizon: number; grain: number };

interface SceneSpec {
  name: string;
  backdrop: Backdrop;
  /** SVG drawn on the backdrop (shadows): background in the mask. */
  shadow?: string;
  object: string;
  defs?: string;
  jpeg?: number;
}

const clamp8 = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

/** Smooth value noise in 0..1 (bilinear between random lattice points every `cell` pixels). */
function valueNoise(w: number, h: number, cell: number, rand: () => number): Float32Array {
  const gw = Math.ceil(w / cell) + 2;
  const gh = Math.ceil(h / cell) + 2;
  const grid = Float32Array.from({ length: gw * gh }, () => rand());
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const gy = y / cell;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < w; x++) {
      const gx = x / cell;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      const a = grid[y0 * gw + x0]! * (1 - fx) + grid[y0 * gw + x0 + 1]! * fx;
      const b = grid[(y0 + 1) * gw + x0]! * (1 - fx) + grid[(y0 + 1) * gw + x0 + 1]! * fx;
      out[y * w + x] = a * (1 - fy) + b * fy;
    }
  }
  return out;
}

function backdrop(bd: Backdrop, size: number, seed: number): Buffer {
  const w = size;
  const h = size;
  const out = Buffer.alloc(w * h * 3);
  const rand = rng(seed);
  const k = size / 1000;
  const texture = bd.kind === 'texture' ? [valueNoise(w, h, bd.scale * k, rand), valueNoise(w, h, (bd.scale * k) / 4, rand)] : null;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let c: Rgb;
      if (bd.kind === 'texture') {
        const t = (texture![0]![i]! - 0.5) * 0.7 + (texture![1]![i]! - 0.5) * 0.3;
        c = bd.base.map((v) => v + t * bd.amplitude) as Rgb;
      } else if (bd.kind === 'vertical') {
        const t = y / (h - 1);
        c = [0, 1, 2].map((j) => bd.from[j]! + (bd.to[j]! - bd.from[j]!) * t) as Rgb;
      } else if (bd.kind === 'radial') {
        const dx = (x - w / 2) / (w / 2);
        const dy = (y - h / 2) / (h / 2);
        const t = Math.min(1, (dx * dx + dy * dy) / 2);
        c = [0, 1, 2].map((j) => bd.centre[j]! + (bd.edge[j]! - bd.centre[j]!) * t) as Rgb;
      } else {
        // a wall lit from above and a table darkening towards the camera, meeting at a soft line
        const hy = bd.horizon * h;
        const t = Math.max(0, Math.min(1, (y - hy) / (3 * k) + 0.5));
        const wall = bd.wall.map((v) => v - (12 * y) / h) as Rgb;
        const table = bd.table.map((v) => v - (20 * (y - hy)) / h) as Rgb;
        c = [0, 1, 2].map((j) => wall[j]! * (1 - t) + table[j]! * t) as Rgb;
      }
      const n = bd.grain ? gaussian(rand) * bd.grain : 0;
      for (let j = 0; j < 3; j++) out[i * 3 + j] = clamp8(c[j]! + n);
    }
  }
  return out;
}

const svg = (size: number, body: string, defs = '') =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 1000 1000"><defs>${defs}</defs>${body}</svg>`,
  );

const BLUR = (id: string, sd: number) => `<filter id="${id}" x="-50%" y="-50%" width="200%" height="200%"><feGaussianBlur stdDeviation="${sd}"/></filter>`;

const SCENES: SceneSpec[] = [
  {
    name: 'white mug with a handle on textured grey',
    backdrop: { kind: 'texture', base: [150, 150, 152], amplitude: 60, scale: 90, grain: 4 },
    defs:
      BLUR('sh', 14) +
      '<linearGradient id="mug" x1="0" x2="1"><stop offset="0" stop-color="#d9d9d9"/><stop offset="0.35" stop-color="#fbfbfb"/><stop offset="1" stop-color="#cfcfcf"/></linearGradient>',
    shadow: '<ellipse cx="470" cy="790" rx="260" ry="40" fill="#000" opacity="0.45" filter="url(#sh)"/>',
    object:
      '<path d="M260 300 h360 v420 q0 60 -60 60 h-240 q-60 0 -60 -60 z" fill="url(#mug)"/>' +
      '<ellipse cx="440" cy="300" rx="180" ry="30" fill="#f2f2f2"/>' +
      '<path d="M620 380 q150 0 150 140 q0 140 -150 140 v-55 q95 0 95 -85 q0 -85 -95 -85 z" fill="url(#mug)"/>',
    jpeg: 88,
  },
  {
    name: 'gold ring on a light grey gradient',
    backdrop: { kind: 'vertical', from: [232, 232, 234], to: [196, 196, 200], grain: 3 },
    defs:
      BLUR('sh', 10) +
      '<linearGradient id="gold" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#f6d77a"/><stop offset="0.5" stop-color="#b8860b"/><stop offset="1" stop-color="#e8c25a"/></linearGradient>',
    shadow: '<ellipse cx="500" cy="800" rx="230" ry="28" fill="#000" opacity="0.3" filter="url(#sh)"/>',
    object:
      '<circle cx="500" cy="500" r="250" fill="none" stroke="url(#gold)" stroke-width="70"/>' +
      '<circle cx="500" cy="215" r="48" fill="#e8f4ff" stroke="#9ab" stroke-width="6"/>',
  },
  {
    name: 'white label on a white backdrop',
    backdrop: { kind: 'radial', centre: [252, 252, 252], edge: [232, 232, 232], grain: 2 },
    defs: BLUR('sh', 12) + '<linearGradient id="jar" x1="0" x2="1"><stop offset="0" stop-color="#1b2a4a"/><stop offset="0.4" stop-color="#34508a"/><stop offset="1" stop-color="#16223c"/></linearGradient>',
    shadow: '<ellipse cx="500" cy="850" rx="230" ry="30" fill="#000" opacity="0.35" filter="url(#sh)"/>',
    object:
      '<rect x="300" y="160" width="400" height="700" rx="40" fill="url(#jar)"/>' +
      '<rect x="340" y="110" width="320" height="80" rx="12" fill="#222"/>' +
      '<rect x="300" y="380" width="400" height="260" fill="#fdfdfd"/>',
    jpeg: 90,
  },
  {
    name: 'fuzzy plush toy',
    backdrop: { kind: 'texture', base: [214, 200, 184], amplitude: 24, scale: 160, grain: 3 },
    defs:
      BLUR('sh', 18) +
      '<filter id="fur" x="-10%" y="-10%" width="120%" height="120%"><feTurbulence type="fractalNoise" baseFrequency="0.09" numOctaves="2" seed="3"/><feDisplacementMap in="SourceGraphic" scale="22" xChannelSelector="R" yChannelSelector="G"/></filter>',
    shadow: '<ellipse cx="500" cy="860" rx="270" ry="45" fill="#3a2a1a" opacity="0.4" filter="url(#sh)"/>',
    object:
      '<g filter="url(#fur)" fill="#8a5a34"><circle cx="500" cy="330" r="170"/><circle cx="360" cy="190" r="65"/><circle cx="640" cy="190" r="65"/>' +
      '<ellipse cx="500" cy="650" rx="230" ry="210"/><circle cx="300" cy="560" r="70"/><circle cx="700" cy="560" r="70"/></g>' +
      '<circle cx="440" cy="310" r="18" fill="#111"/><circle cx="560" cy="310" r="18" fill="#111"/><ellipse cx="500" cy="380" rx="40" ry="28" fill="#d8b090"/>',
  },
  {
    name: 'green glass bottle',
    backdrop: { kind: 'vertical', from: [240, 238, 234], to: [210, 206, 200], grain: 3 },
    defs:
      BLUR('sh', 12) +
      '<linearGradient id="glass" x1="0" x2="1"><stop offset="0" stop-color="#0f5a2a"/><stop offset="0.3" stop-color="#4fae6a"/><stop offset="0.55" stop-color="#1e7a3c"/><stop offset="1" stop-color="#0c4420"/></linearGradient>',
    shadow: '<ellipse cx="510" cy="900" rx="170" ry="26" fill="#0a3a18" opacity="0.35" filter="url(#sh)"/>',
    object:
      '<path d="M450 80 h100 v170 q120 60 120 200 v420 q0 30 -30 30 h-280 q-30 0 -30 -30 v-420 q0 -140 120 -200 z" fill="url(#glass)" opacity="0.82"/>' +
      '<rect x="370" y="420" width="30" height="380" rx="15" fill="#fff" opacity="0.35"/>',
  },
  {
    name: 'vase on a two-tone wall and table',
    backdrop: { kind: 'two-tone', wall: [226, 214, 196], table: [150, 112, 80], horizon: 0.62, grain: 4 },
    defs:
      BLUR('sh', 16) +
      '<radialGradient id="vase" cx="0.35" cy="0.35" r="0.8"><stop offset="0" stop-color="#5fa8d8"/><stop offset="1" stop-color="#1d4f7a"/></radialGradient>',
    shadow: '<ellipse cx="560" cy="845" rx="230" ry="40" fill="#1a0f05" opacity="0.5" filter="url(#sh)"/>',
    object: '<path d="M430 200 h140 v60 q130 120 130 330 q0 200 -110 250 h-180 q-110 -50 -110 -250 q0 -210 130 -330 z" fill="url(#vase)"/>',
    jpeg: 85,
  },
  {
    name: 'dark camera on a dark gradient',
    backdrop: { kind: 'radial', centre: [70, 70, 74], edge: [18, 18, 20], grain: 3 },
    defs:
      BLUR('sh', 14) +
      '<linearGradient id="body" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3c3c3e"/><stop offset="1" stop-color="#121212"/></linearGradient>' +
      '<radialGradient id="lens" cx="0.4" cy="0.4" r="0.7"><stop offset="0" stop-color="#4a5a7a"/><stop offset="1" stop-color="#050505"/></radialGradient>',
    shadow: '<ellipse cx="500" cy="760" rx="330" ry="36" fill="#000" opacity="0.6" filter="url(#sh)"/>',
    object:
      '<rect x="170" y="330" width="660" height="420" rx="50" fill="url(#body)" stroke="#6a6a6e" stroke-width="4"/>' +
      '<rect x="250" y="270" width="180" height="80" rx="16" fill="#1c1c1c" stroke="#555" stroke-width="3"/>' +
      '<circle cx="500" cy="540" r="160" fill="url(#lens)" stroke="#707074" stroke-width="8"/>',
    jpeg: 90,
  },
  {
    name: 'shoe with a cast shadow',
    backdrop: { kind: 'vertical', from: [244, 244, 244], to: [224, 224, 226], grain: 3 },
    defs:
      BLUR('sh', 20) +
      '<linearGradient id="shoe" x1="0" x2="1"><stop offset="0" stop-color="#b03a2e"/><stop offset="1" stop-color="#7b241c"/></linearGradient>',
    shadow: '<path d="M180 720 L860 720 Q980 760 940 820 L240 830 Z" fill="#000" opacity="0.35" filter="url(#sh)"/>',
    object:
      '<path d="M120 700 L120 470 Q120 390 210 390 L380 390 Q450 520 610 560 Q830 600 850 690 L850 720 Q850 740 820 740 L150 740 Q120 740 120 700 Z" fill="url(#shoe)"/>' +
      '<path d="M120 705 L850 705 L850 740 L120 740 Z" fill="#f4f4f0"/>' +
      '<path d="M250 420 L400 470 M270 460 L420 510 M290 500 L440 550" stroke="#fff" stroke-width="10"/>',
  },
  {
    name: 'two objects side by side',
    backdrop: { kind: 'texture', base: [200, 204, 210], amplitude: 30, scale: 120, grain: 4 },
    defs:
      BLUR('sh', 14) +
      '<linearGradient id="can" x1="0" x2="1"><stop offset="0" stop-color="#8e1b1b"/><stop offset="0.4" stop-color="#e04040"/><stop offset="1" stop-color="#701010"/></linearGradient>' +
      '<radialGradient id="ball" cx="0.35" cy="0.35" r="0.7"><stop offset="0" stop-color="#ffe27a"/><stop offset="1" stop-color="#c08a00"/></radialGradient>',
    shadow:
      '<ellipse cx="300" cy="820" rx="170" ry="30" fill="#000" opacity="0.4" filter="url(#sh)"/>' +
      '<ellipse cx="720" cy="820" rx="150" ry="28" fill="#000" opacity="0.4" filter="url(#sh)"/>',
    object:
      '<rect x="160" y="300" width="280" height="520" rx="30" fill="url(#can)"/>' +
      '<circle cx="720" cy="660" r="160" fill="url(#ball)"/>',
    jpeg: 80,
  },
  {
    name: 'sofa touching the frame',
    backdrop: { kind: 'two-tone', wall: [236, 232, 226], table: [190, 182, 170], horizon: 0.7, grain: 3 },
    defs:
      BLUR('sh', 16) +
      '<linearGradient id="sofa" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#4f7a5a"/><stop offset="1" stop-color="#2f4f38"/></linearGradient>',
    shadow: '<rect x="260" y="930" width="800" height="60" fill="#000" opacity="0.35" filter="url(#sh)"/>',
    object:
      '<path d="M300 380 Q300 320 360 320 L1000 320 L1000 960 L300 960 Z" fill="url(#sofa)"/>' +
      '<rect x="250" y="560" width="140" height="400" rx="40" fill="#3f6a4a"/>' +
      '<rect x="390" y="640" width="610" height="140" fill="#5e8c69"/>',
  },
];

export const SCENE_NAMES = SCENES.map((s) => s.name);

async function render(spec: SceneSpec, size: number, seed: number): Promise<ProductShot> {
  const layer = await sharp(svg(size, spec.object, spec.defs)).ensureAlpha().raw().toBuffer();
  const mask = new Uint8Array(size * size);
  for (let i = 0; i < mask.length; i++) mask[i] = layer[i * 4 + 3]! > 127 ? 1 : 0;
  const layers = [...(spec.shadow ? [{ input: svg(size, spec.shadow, spec.defs) }] : []), { input: svg(size, spec.object, spec.defs) }];
  // flatten the shadow first: sharp composites each layer over the previous result
  const composed = sharp(backdrop(spec.backdrop, size, seed), { raw: { width: size, height: size, channels: 3 } }).composite(layers);
  const input = spec.jpeg ? await composed.jpeg({ quality: spec.jpeg }).toBuffer() : await composed.png().toBuffer();
  return { name: spec.name, input, width: size, height: size, mask };
}

/** The realistic set at `size`×`size` (1024 in tests, 1024 and 2048 in the bench), or the scenes `only` names. */
export async function productScenes(size = 1024, only: (name: string) => boolean = () => true): Promise<ProductShot[]> {
  const out: ProductShot[] = [];
  // one at a time: each 2048 scene holds ~40 MB of buffers while it renders
  for (const [i, spec] of SCENES.entries()) if (only(spec.name)) out.push(await render(spec, size, 2000 + i));
  return out;
}
