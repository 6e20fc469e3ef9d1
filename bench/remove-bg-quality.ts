/**
 * Mask quality of the local remove-bg: IoU of (alpha > 127) against the known
 * mask of synthetic product shots. Run: npx tsx bench/remove-bg-quality.ts
 */
import sharp from 'sharp';
import { createLocalProcessor } from '../src/adapters/processor/local.js';
import { maskIoU, productShots } from '../test/helpers/product-shots.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

const processor = createLocalProcessor({ maxInputPixels: 50_000_000 });
const shots = await productShots();
let sum = 0;
out('| fixture | IoU | ms |');
out('|---|---|---|');
for (const shot of shots) {
  const started = performance.now();
  const png = await processor.process({
    imageId: '00000000-0000-4000-8000-000000000000',
    operation: 'remove-bg',
    loadInput: async () => shot.input,
    inputUrl: async () => 'unused',
    providerTaskId: null,
    saveProviderTaskId: async () => {},
    deadline: new Date(Date.now() + 60_000),
  });
  const ms = performance.now() - started;
  const { data } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const iou = maskIoU(data, shot.mask);
  sum += iou;
  out(`| ${shot.name} | ${iou.toFixed(4)} | ${ms.toFixed(0)} |`);
}
out(`| **mean** | **${(sum / shots.length).toFixed(4)}** | |`);

// speed on a 2000x2000 shot
const big = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#f4f4f4' } })
  .composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="2000"><circle cx="1000" cy="1000" r="700" fill="#3a6"/></svg>') }])
  .jpeg({ quality: 85 })
  .toBuffer();
const t0 = performance.now();
await processor.process({
  imageId: '00000000-0000-4000-8000-000000000001',
  operation: 'remove-bg',
  loadInput: async () => big,
  inputUrl: async () => 'unused',
  providerTaskId: null,
  saveProviderTaskId: async () => {},
  deadline: new Date(Date.now() + 60_000),
});
out(`\n2000x2000 JPEG remove-bg (decode + mask + PNG encode): ${(performance.now() - t0).toFixed(0)} ms`);
