import sharp from 'sharp';

/**
 * Photos of the demo catalogue (local mode): a studio shot of a product, an
 * SVG object with soft shading and a shadow over a graduated backdrop,
 * rendered and JPEG-encoded by sharp (off the event loop, in libuv's pool).
 */

export interface DemoPhotoSpec {
  title: string;
  alt: string;
  backdrop: [string, string];
  object: string;
}

const SIZE = 640;

const shadow = `<ellipse cx="320" cy="560" rx="170" ry="22" fill="#000" opacity="0.18" filter="url(#blur)"/>`;

export const DEMO_PRODUCTS: Array<{ title: string; collection: string; photos: DemoPhotoSpec[] }> = [
  {
    title: 'Ceramic coffee mug',
    collection: 'kitchen',
    photos: [
      {
        title: 'mug-front',
        alt: 'A teal ceramic mug, front view',
        backdrop: ['#f4efe8', '#d9d2c8'],
        object: `<rect x="190" y="200" width="240" height="330" rx="28" fill="url(#body)"/>
          <path d="M430 270 q90 0 90 90 q0 90 -90 90" fill="none" stroke="#1f7a7a" stroke-width="34"/>
          <ellipse cx="310" cy="205" rx="120" ry="20" fill="#155e5e"/>`,
      },
      {
        title: 'mug-side',
        alt: 'The teal mug from the side',
        backdrop: ['#eef2f4', '#cfd8dc'],
        object: `<rect x="220" y="210" width="200" height="320" rx="24" fill="url(#body)"/>
          <ellipse cx="320" cy="212" rx="100" ry="16" fill="#155e5e"/>`,
      },
    ],
  },
  {
    title: 'Canvas sneaker',
    collection: 'shoes',
    photos: [
      {
        title: 'sneaker',
        alt: 'A red canvas sneaker',
        backdrop: ['#fafafa', '#dedede'],
        object: `<path d="M110 470 q10 -120 120 -150 l90 -60 q40 -20 70 10 l40 60 q90 30 110 140 z" fill="#c62828"/>
          <rect x="100" y="470" width="440" height="50" rx="20" fill="#f5f5f5" stroke="#bbb" stroke-width="4"/>
          <path d="M260 330 l80 -40 M280 360 l80 -40 M300 390 l80 -40" stroke="#fff" stroke-width="10"/>`,
      },
    ],
  },
  {
    title: 'Glass water bottle',
    collection: 'kitchen',
    photos: [
      {
        title: 'bottle',
        alt: 'A clear glass bottle with a cork',
        backdrop: ['#e8f0f8', '#b8c8d8'],
        object: `<rect x="260" y="110" width="120" height="70" rx="12" fill="#a1887f"/>
          <path d="M250 180 h140 q40 60 40 120 v210 q0 30 -30 30 h-160 q-30 0 -30 -30 v-210 q0 -60 40 -120 z" fill="#8fd3e8" opacity="0.85"/>
          <rect x="275" y="260" width="24" height="240" rx="12" fill="#fff" opacity="0.5"/>`,
      },
    ],
  },
  {
    title: 'Leather tote bag',
    collection: 'bags',
    photos: [
      {
        title: 'tote',
        alt: 'A brown leather tote',
        backdrop: ['#f6f1ea', '#dccfbf'],
        object: `<path d="M230 250 q0 -110 90 -110 q90 0 90 110" fill="none" stroke="#5d4037" stroke-width="18"/>
          <path d="M150 250 h340 l-30 290 h-280 z" fill="#8d5a3b"/>
          <path d="M170 290 h300" stroke="#6d4c41" stroke-width="6" stroke-dasharray="14 10"/>`,
      },
    ],
  },
];

export async function renderDemoPhoto(spec: DemoPhotoSpec): Promise<{ data: Buffer; width: number; height: number }> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">
    <defs>
      <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${spec.backdrop[0]}"/><stop offset="1" stop-color="${spec.backdrop[1]}"/></linearGradient>
      <linearGradient id="body" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#1b6f6f"/><stop offset="0.45" stop-color="#2a9d9d"/><stop offset="1" stop-color="#135353"/></linearGradient>
      <filter id="blur"><feGaussianBlur stdDeviation="10"/></filter>
    </defs>
    <rect width="100%" height="100%" fill="url(#bg)"/>
    ${shadow}
    ${spec.object}
  </svg>`;
  const data = await sharp(Buffer.from(svg)).jpeg({ quality: 86 }).toBuffer();
  return { data, width: SIZE, height: SIZE };
}
