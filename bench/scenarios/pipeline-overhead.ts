/**
 * (4) Pipeline overhead: 300 downscales one after another, embedded (in-process
 * queue, PGlite) and with BullMQ (API + worker on PostgreSQL + Redis). Overhead
 * of one image = time from sending POST /upload to its `processed` event on
 * GET /images/events, minus the median time raw sharp takes for the same
 * downscale, measured in this run.
 */
import sharp from 'sharp';
import { productShot, uploadForm } from '../../test/helpers/images.js';
import { watchImages } from '../lib/image-events.js';
import { figure, median, type Scenario } from '../lib/report.js';
import { type Api, startApi } from '../lib/servers.js';
import { startStack } from '../lib/stack.js';

const ID = 'pipeline-overhead';
const IMAGES = Number(process.env.BENCH_PIPELINE_IMAGES ?? 300);
const LIMITS = { RL_UPLOAD_BURST_LIMIT: '1000000', RL_UPLOAD_SUST_LIMIT: '1000000', FREE_CREDITS: '100000' };

/** The local processor's downscale of an image under its size budget: decode, orient, PNG level 6. */
async function rawSharpMs(photo: Buffer, runs = 30): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await sharp(photo).metadata();
    await sharp(photo, { failOn: 'error' }).rotate().png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** Upload-to-processed times (ms) of `count` uploads sent one at a time. */
async function endToEnd(api: Api, photo: Buffer, count: number): Promise<number[]> {
  const { cookie } = await api.login();
  const watch = await watchImages(api.base, cookie);
  const form = uploadForm(photo, 'downscale', 'product.jpg', 'image/jpeg');
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const res = await fetch(`${api.base}/upload`, { method: 'POST', headers: { ...form.headers, cookie }, body: form.payload });
      if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      const outcome = await watch.reached(id, ['processed', 'failed']);
      if (outcome.status !== 'processed') throw new Error(`image ${id} failed`);
      times.push(outcome.at - t);
    }
  } finally {
    await watch.close();
  }
  return times;
}

const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

export const scenario: Scenario = {
  id: ID,
  title: 'Pipeline overhead (embedded and BullMQ)',
  async run() {
    const photo = await productShot(800, 600, 'jpeg');
    const embedded = await startApi(LIMITS);
    let embeddedTimes: number[];
    try {
      embeddedTimes = await endToEnd(embedded, photo, IMAGES);
    } finally {
      await embedded.stop();
    }
    const stack = await startStack(LIMITS);
    let bullTimes: number[];
    try {
      bullTimes = await endToEnd(stack.api, photo, IMAGES);
    } finally {
      await stack.stop();
    }
    const sharpMs = await rawSharpMs(photo);
    const overhead = (xs: number[]) => xs.map((x) => x - sharpMs);
    return {
      figures: [
        figure(ID, 'raw sharp downscale', { value: sharpMs, unit: 'ms', note: 'median of 30, in the bench process' }),
        figure(ID, 'embedded overhead p50', { value: median(overhead(embeddedTimes)), unit: 'ms', atMost: 50 }),
        figure(ID, 'embedded overhead p99', { value: p(overhead(embeddedTimes), 0.99), unit: 'ms' }),
        figure(ID, 'BullMQ overhead p50', { value: median(overhead(bullTimes)), unit: 'ms', atMost: 150 }),
        figure(ID, 'BullMQ overhead p99', { value: p(overhead(bullTimes), 0.99), unit: 'ms' }),
      ],
      notes: [
        `Set-up: the built API in embedded mode (PGlite, in-process queue, local disk), then the production shape (bench/lib/stack.ts: API + worker on a fresh PostgreSQL database and Redis, shared local disk), upload limits raised.`,
        `Method: ${IMAGES} downscales of an 800x600 JPEG product shot (${photo.length} bytes) per mode, sent one at a time so no image waits behind another. An image's time runs from sending POST /upload to its \`processed\` event on GET /images/events (the way the dashboard learns it); overhead = that time minus the median of 30 runs of the same work with raw sharp (metadata, then decode, rotate and PNG level 6, what the local processor does for an image already under the 2 MB budget), measured in the same run. Client-side timing was chosen over the started/finished timestamps because it includes what a merchant waits for: the upload request, the enqueue, the queue pick-up and the event delivery.`,
      ].join('\n\n'),
    };
  },
};
