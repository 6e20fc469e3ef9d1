import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { createWeightedGate } from '../../../lib/weighted-gate.js';
import { REFERENCE_JOB_PIXELS } from './budget.js';
import type { Finishing } from '../../../modules/images/finishing.js';

export interface ThreadData {
  modelPath: string;
  threads: number;
  maxInputPixels: number;
}
export interface ThreadRequest {
  id: number;
  input: Uint8Array;
  finishing: Finishing | null;
}
export type ThreadReply = { id: number; ok: true; data: Uint8Array } | { id: number; ok: false; message: string };

export interface RemoveBgRunnerOptions extends ThreadData {
  /** Jobs inside the thread at once (REMOVE_BG_CONCURRENCY); more wait here, holding only their input. */
  concurrency: number;
  /**
   * Input pixels inside the thread at once (REMOVE_BG_MAX_PIXELS_IN_FLIGHT; default
   * `concurrency` 2048 px squares): a job's memory grows with its pixels, not its count.
   * A larger image than this runs alone.
   */
  maxPixelsInFlight?: number;
}

export interface RemoveBgRunner {
  /** Starts the thread and loads the model; rejects with the reason when the model cannot load. */
  start(): Promise<void>;
  /** The cut-out (finished when `finishing` asks for more than a plain PNG). */
  run(input: Buffer, finishing: Finishing | null): Promise<Buffer>;
  /** Ends the thread; jobs still running are rejected. */
  close(): Promise<void>;
  /** Jobs in the thread, their input pixels, and jobs waiting for room. */
  inFlight(): { jobs: number; pixels: number; waiting: number };
}

/** The model's load failed: the process cannot do remove-bg (a start-up error, see container.ts). */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

// Under tsx (tests, `npm run dev`) the thread runs the TypeScript source through the same loader.
const fromSource = import.meta.url.endsWith('.ts');
const THREAD_URL = new URL(fromSource ? './thread.ts' : './thread.js', import.meta.url);
// Resolved from here, not from the working directory (which need not have node_modules).
const TSX_LOADER = fromSource ? pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href : '';

/** An input's pixel count from its header (1 when unreadable: the thread reports why). */
async function inputPixels(input: Buffer): Promise<number> {
  try {
    const { width, height } = await sharp(input, { limitInputPixels: false }).metadata();
    return width && height ? width * height : 1;
  } catch {
    return 1;
  }
}

/**
 * One worker thread per process holding the one model session, fed at most
 * `concurrency` jobs and `maxPixelsInFlight` input pixels at a time (a job's
 * buffers grow with its pixels: ~50-90 MiB at 2048 px; the model's own
 * ~250 MiB peak is one run at a time, see model.ts).
 * A crashed thread fails its running jobs and is started again on the next job.
 */
export function createRemoveBgRunner(options: RemoveBgRunnerOptions): RemoveBgRunner {
  let worker: Worker | null = null;
  let ready: Promise<Worker> | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  const gate = createWeightedGate(options.maxPixelsInFlight ?? options.concurrency * REFERENCE_JOB_PIXELS, options.concurrency);

  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  function spawn(): Promise<Worker> {
    const data: ThreadData = { modelPath: options.modelPath, threads: options.threads, maxInputPixels: options.maxInputPixels };
    const w = new Worker(THREAD_URL, {
      workerData: data,
      ...(fromSource ? { execArgv: [...process.execArgv, '--import', TSX_LOADER] } : {}),
    });
    return new Promise<Worker>((resolve, reject) => {
      w.once('message', (msg: { ready: boolean; message?: string }) => {
        if (!msg.ready) {
          void w.terminate();
          reject(new ModelLoadError(msg.message ?? 'unknown error'));
          return;
        }
        w.on('message', (reply: ThreadReply) => {
          const p = pending.get(reply.id);
          if (!p) return;
          pending.delete(reply.id);
          if (reply.ok) p.resolve(Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength));
          else p.reject(new Error(reply.message));
        });
        worker = w;
        resolve(w);
      });
      const gone = (err: Error) => {
        reject(new ModelLoadError(err.message));
        failAll(err);
        if (worker === w) worker = null;
        ready = null;
      };
      w.once('error', gone);
      w.once('exit', (code) => gone(new Error(`remove-bg thread exited (code ${code})`)));
    });
  }

  const started = () => (ready ??= spawn());

  return {
    start: async () => {
      await started();
    },
    async run(input, finishing) {
      const release = await gate.acquire(await inputPixels(input));
      try {
        const w = await started();
        const id = nextId++;
        return await new Promise<Buffer>((resolve, reject) => {
          pending.set(id, { resolve, reject });
          const request: ThreadRequest = { id, input: new Uint8Array(input), finishing };
          w.postMessage(request, [request.input.buffer as ArrayBuffer]);
        });
      } finally {
        release();
      }
    },
    async close() {
      const w = worker ?? (ready ? await ready.catch(() => null) : null);
      worker = null;
      ready = null;
      if (w) {
        w.removeAllListeners('exit');
        await w.terminate();
      }
      failAll(new Error('remove-bg stopped'));
    },
    inFlight: () => ({ jobs: gate.count, pixels: gate.weight, waiting: gate.waiting }),
  };
}
