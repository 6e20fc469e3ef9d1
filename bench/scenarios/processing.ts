/**
 * Scenario 5: local processing throughput against raw sharp doing the same
 * resize and encode. Realistic product scenes (textured backdrops, shadows):
 * downscale of 2048² photos (our processor searches for the largest PNG under
 * 2 MB: it probes, then encodes; the peer encodes once at the size we chose),
 * and upscale 2× of 1024² photos (Lanczos, PNG). Two jobs at a time on both
 * sides (the worker's sharp work is bounded the same way); rounds interleaved
 * so that drift on the shared machine hits both; the median round counts.
 */
import sharp from 'sharp';
import { createLocalProcessor } from '../../src/adapters/processor/local.js';
import type { Operation } from '../../src/adapters/processor/processor.js';
import { productScenes, SCENE_NAMES } from '../../test/helpers/product-scenes.js';
import { localJob } from '../lib/local-job.js';
import { figure, median, round, type Scenario } from '../lib/report.js';

const ID = 'processing';
const ROUNDS = Number(process.env.BENCH_PROCESSING_ROUNDS ?? 3);
const PARALLEL = 2;
const INPUTS = 4;

/** Images per second over `inputs`, `PARALLEL` at a time. */
async function throughput(inputs: Buffer[], work: (input: Buffer, i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < inputs.length) {
        const i = next++;
        await work(inputs[i]!, i);
      }
    }),
  );
  return inputs.length / ((performance.now() - started) / 1000);
}

export const scenario: Scenario = {
  id: ID,
  title: 'Local processing throughput vs raw sharp',
  async run() {
    const processor = createLocalProcessor({ maxInputPixels: 50_000_000 });
    const job = (operation: Operation, input: Buffer) => processor.process(localJob(operation, input));
    // Only the scenes measured are rendered (a 2048² scene takes seconds).
    const measured = (name: string) => SCENE_NAMES.indexOf(name) < INPUTS;
    const large = (await productScenes(2048, measured)).map((s) => s.input);
    const small = (await productScenes(1024, measured)).map((s) => s.input);

    // The size our downscale settles on for each input: the peer encodes exactly that. This pass
    // is also the downscale's warm-up.
    const targets = await Promise.all(large.map(async (input) => sharp(await job('downscale', input)).metadata()));
    const raw = {
      downscale: (input: Buffer, i: number) =>
        sharp(input)
          .rotate()
          .resize(targets[i]!.width, targets[i]!.height, { fit: 'fill', kernel: 'lanczos3' })
          .png({ compressionLevel: 6, adaptiveFiltering: true })
          .toBuffer(),
      upscale: async (input: Buffer) => {
        const { width, height } = await sharp(input).metadata();
        return sharp(input).rotate().resize(width * 2, height * 2, { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer();
      },
    };
    const cases = [
      { op: 'downscale' as const, inputs: large, what: 'downscale 2048² photo to the largest PNG ≤ 2 MB' },
      { op: 'upscale' as const, inputs: small, what: 'upscale 1024² photo 2× (Lanczos, PNG)' },
    ];
    const figures = [];
    const rows = [];
    for (const c of cases) {
      const ours: number[] = [];
      const peer: number[] = [];
      if (c.op !== 'downscale') await throughput(c.inputs.slice(0, 2), (input) => job(c.op, input)); // warm-up
      for (let r = 0; r < ROUNDS; r++) {
        ours.push(await throughput(c.inputs, (input) => job(c.op, input)));
        peer.push(await throughput(c.inputs, raw[c.op]));
      }
      const value = median(ours);
      const baseline = median(peer);
      figures.push(figure(ID, `${c.op} throughput`, { value, unit: 'images/s', baseline, on: 'ratio', atLeast: 0.9, note: c.what }));
      rows.push(`| ${c.what} | ${round(value, 2)} | ${round(baseline, 2)} | ${round(value / baseline, 2)} |`);
    }
    await processor.close?.();
    const sizes = targets.map((t) => `${t.width}²`).join(', ');
    return {
      figures,
      notes: [
        `${large.length} inputs per operation, ${PARALLEL} jobs at a time, median of ${ROUNDS} interleaved rounds.`,
        '',
        '| operation | ours images/s | raw sharp images/s | ratio |',
        '|---|---:|---:|---:|',
        ...rows,
        '',
        `Downscale sizes chosen (the peer encodes exactly these, knowing the answer): ${sizes}. Our downscale first`,
        'estimates the PNG size from a ~0.25 MP probe (corrected for bytes growing as pixels^1.1), encodes at the',
        'size aiming at 90 % of the budget, and re-encodes only when it is over or under 75 %: the ratio is the price of that search.',
        'On these 4 scenes every job made exactly one probe and one encode (counted); the probe and the encode share one decode',
        '(a PNG input was decoded twice before). What is left is the probe itself: its resize of the whole image and its encode,',
        "measured at 40-100 ms of the 320-760 ms the peer's single encode takes, so the ratio sits near 0.85-0.9 on a quiet",
        'machine and lower under load (the peer does less work and is hit less by the same drift).',
      ].join('\n'),
    };
  },
};
