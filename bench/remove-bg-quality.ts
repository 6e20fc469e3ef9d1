/**
 * Mask quality and speed of the local remove-bg (the segmentation model): IoU of
 * (alpha > 127) against the ground truth of the realistic scenes at 1024 and
 * 2048 px, and the whole-job time (decode, model, refinement, encode) per scene.
 * Run: npx tsx bench/remove-bg-quality.ts [sizes, default 1024,2048]
 */
import sharp from 'sharp';
import { createLocalProcessor } from '../src/adapters/processor/local.js';
import { productScenes } from '../test/helpers/product-scenes.js';
import { maskIoU } from '../test/helpers/product-shots.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const sizes = (process.argv[2] ?? '1024,2048').split(',').map(Number);
const processor = createLocalProcessor({ maxInputPixels: 50_000_000, removeBg: { concurrency: 1 } });
await processor.start?.();
for (const size of sizes) {
  const scenes = await productScenes(size);
  const ious: number[] = [];
  out(`\n| scene @${size} | IoU | job ms |`);
  out('|---|---|---|');
  for (const scene of scenes) {
    const started = performance.now();
    const png = await processor.process({
      imageId: '00000000-0000-4000-8000-000000000000',
      operation: 'remove-bg',
      loadInput: async () => scene.input,
      inputUrl: async () => 'unused',
      providerTaskId: null,
      saveProviderTaskId: async () => {},
      deadline: new Date(Date.now() + 120_000),
      finishing: null,
    });
    const ms = performance.now() - started;
    const { data } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const iou = maskIoU(data, scene.mask);
    ious.push(iou);
    out(`| ${scene.name} | ${iou.toFixed(4)} | ${ms.toFixed(0)} |`);
  }
  out(`| **mean / min** | **${(ious.reduce((a, b) => a + b, 0) / ious.length).toFixed(4)}** / ${Math.min(...ious).toFixed(4)} | |`);
}
await processor.close?.();
