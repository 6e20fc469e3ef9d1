/**
 * The remove-bg worker thread: owns the process's one model session and runs
 * the whole job (decode, model, refinement, finishing, encode) so the caller's
 * event loop only passes buffers. Protocol: see pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isPlainFinishing } from '../../../modules/images/finishing.js';
import { applyFinishing } from '../finish.js';
import { cutOut } from './cutout.js';
import { loadSegmentationModel } from './model.js';
import type { ThreadData, ThreadReply, ThreadRequest } from './pool.js';

const port = parentPort!;
const data = workerData as ThreadData;

try {
  const model = await loadSegmentationModel(data.modelPath, data.threads);
  port.on('message', (request: ThreadRequest) => {
    void (async (): Promise<ThreadReply> => {
      try {
        const png = await cutOut(Buffer.from(request.input), model, { maxInputPixels: data.maxInputPixels });
        const out = request.finishing && !isPlainFinishing(request.finishing) ? (await applyFinishing(png, request.finishing)).data : png;
        // an owned copy: sharp's output memory cannot be transferred
        return { id: request.id, ok: true, data: new Uint8Array(out) };
      } catch (err) {
        return { id: request.id, ok: false, message: err instanceof Error ? err.message : String(err) };
      }
    })().then((reply) => port.postMessage(reply, reply.ok ? [reply.data.buffer as ArrayBuffer] : []));
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ ready: false, message: err instanceof Error ? err.message : String(err) });
}
