import sharp from 'sharp';
import {
  PermanentProcessingError,
  type ProcessJob,
  type Processor,
  throwIfAborted,
} from './processor.js';
import { checkBundledModel, defaultModelPath } from './remove-bg/model-path.js';
import { createRemoveBgRunner } from './remove-bg/pool.js';

export interface RemoveBgSettings {
  /** An ONNX segmentation model (REMOVE_BG_MODEL; default u2netp, see docs/remove-bg.md). */
  modelPath?: string;
  /** ONNX Runtime intra-op threads (REMOVE_BG_THREADS). */
  threads?: number;
  /** remove-bg jobs running at once in this process (REMOVE_BG_CONCURRENCY). */
  concurrency?: number;
  /** Their input pixels at once (REMOVE_BG_MAX_PIXELS_IN_FLIGHT; default: `concurrency` 2048 px squares). */
  maxPixelsInFlight?: number;
}

export interface LocalProcessorOptions {
  /** Decoded pixel limit of an input (sharp's limitInputPixels; MAX_INPUT_PIXELS). */
  maxInputPixels: number;
  /** Largest upscale result in pixels (default: maxInputPixels). */
  maxOutputPixels?: number;
  /** Downscale target, as the provider's max_size_mb (default 2). */
  downscaleMaxMb?: number;
  removeBg?: RemoveBgSettings;
}

/** A pipeline (decode, resize, encode) of an accepted image takes seconds; far past that it is a decoder bomb. */
export const JOB_DECODE_TIMEOUT_S = 120;

/**
 * The embedded processor, offline: sharp for upscale and downscale (PNG), and
 * remove-bg with the segmentation model in a worker thread (PNG with alpha, or
 * the finished result in `resultFormat(job.finishing)`). Bad input (not an
 * image, too many pixels) is a PermanentProcessingError: a retry would fail
 * the same way. `start()` checks the model (a start-up error when it is unusable);
 * `close()` ends the thread.
 */
/** Up to this size a downscale decodes once and keeps the pixels (4 bytes each at most: 64 MB) for its attempts. */
const REUSE_DECODE_MAX_PIXELS = 16_000_000;

export function createLocalProcessor(options: LocalProcessorOptions): Processor {
  const limitInputPixels = options.maxInputPixels;
  const maxOutputPixels = options.maxOutputPixels ?? options.maxInputPixels;
  const maxBytes = Math.floor((options.downscaleMaxMb ?? 2) * 1024 * 1024);
  // The request only read the header: a file that decodes too slowly fails here (no retry), not in the API.
  const open = (input: Buffer) =>
    sharp(input, { limitInputPixels, failOn: 'error' }).timeout({ seconds: JOB_DECODE_TIMEOUT_S }).rotate();

  async function size(input: Buffer): Promise<{ width: number; height: number; eightBit: boolean }> {
    // rotate() applied: read the oriented size from a raw decode header
    const meta = await sharp(input, { limitInputPixels, failOn: 'error' }).metadata();
    if (!meta.width || !meta.height) throw new PermanentProcessingError('input has no dimensions');
    const swap = (meta.orientation ?? 1) >= 5;
    const eightBit = meta.depth === 'uchar';
    return swap ? { width: meta.height, height: meta.width, eightBit } : { width: meta.width, height: meta.height, eightBit };
  }

  const encodePng = (input: Buffer, w: number, h: number, full: { width: number; height: number }) => {
    const pipeline = open(input);
    if (w !== full.width || h !== full.height) pipeline.resize(w, h, { fit: 'fill', kernel: 'lanczos3' });
    return pipeline.png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer(); // level 9 is 5x slower for ~10 %
  };

  const encodeRaw = (data: Buffer, raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 }, w: number, h: number) => {
    const pipeline = sharp(data, { raw });
    if (w !== raw.width || h !== raw.height) pipeline.resize(w, h, { fit: 'fill', kernel: 'lanczos3' });
    return pipeline.png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer();
  };

  /**
   * The result must fit `maxBytes`; any size that uses most of the budget will do (a few per cent
   * more pixels are invisible, and each extra attempt is a whole PNG encode). PNG bytes grow a
   * little faster than the pixel count on photos (sensor noise and texture survive at full size):
   * about pixels^1.1 between 1 and 4 MP on the realistic scenes, so the estimate from a small
   * probe is corrected by that exponent.
   */
  const BYTES_EXPONENT = 1.1;
  const AIM = 0.9; // of the budget, for the first attempt
  const GOOD_ENOUGH = 0.75; // a result under this share of the budget steps up once

  /** The scale whose PNG should be `bytes` × (target / bytes at `at`), under the exponent model. */
  const rescale = (at: number, bytesAt: number, target: number) => at * Math.pow(target / bytesAt, 1 / (2 * BYTES_EXPONENT));

  async function downscale(input: Buffer): Promise<Buffer> {
    const full = await size(input);
    const pixels = full.width * full.height;
    const dims = (scale: number) => [Math.max(1, Math.floor(full.width * scale)), Math.max(1, Math.floor(full.height * scale))] as const;
    let encodeAt = (scale: number) => encodePng(input, ...dims(scale), full);
    let scale = 1;
    // Large images: estimate from a ~0.25 MP probe (a few per cent of a full encode) instead of
    // encoding the full image first (a 12 MP PNG encode takes seconds).
    const PROBE = 250_000;
    if (pixels > 2 * PROBE) {
      // The probe and the encode start from one decode (a PNG decode costs as much as the probe's
      // own work); 16-bit inputs keep their depth through the usual path.
      if (pixels <= REUSE_DECODE_MAX_PIXELS && full.eightBit) {
        const { data, info } = await open(input).raw().toBuffer({ resolveWithObject: true });
        const decoded = { width: info.width, height: info.height, channels: info.channels };
        encodeAt = (scale) => encodeRaw(data, decoded, ...dims(scale));
      }
      const k = Math.sqrt(PROBE / pixels);
      const probe = await encodeAt(k);
      scale = Math.min(1, rescale(k, probe.length, maxBytes * AIM));
    }
    for (let attempt = 0; attempt < 12; attempt++) {
      const png = await encodeAt(scale);
      const [w, h] = dims(scale);
      if (png.length <= maxBytes || (w === 1 && h === 1)) {
        if (scale < 1 && attempt === 0 && png.length < GOOD_ENOUGH * maxBytes) {
          const bigger = await encodeAt(Math.min(1, rescale(scale, png.length, maxBytes * AIM)));
          if (bigger.length <= maxBytes) return bigger;
        }
        return png;
      }
      // Over: aim below the budget, and always shrink by at least 5 %.
      scale = Math.min(scale * 0.95, rescale(scale, png.length, maxBytes * AIM));
    }
    throw new PermanentProcessingError('could not fit the image under the size limit');
  }

  async function upscale(input: Buffer): Promise<Buffer> {
    const { width, height } = await size(input);
    if (width * 2 * height * 2 > maxOutputPixels) {
      throw new PermanentProcessingError(`image too large to upscale (${width}x${height})`);
    }
    return open(input).resize(width * 2, height * 2, { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer();
  }

  const modelPath = options.removeBg?.modelPath ?? defaultModelPath();
  const removeBg = createRemoveBgRunner({
    modelPath,
    threads: options.removeBg?.threads ?? 2,
    concurrency: options.removeBg?.concurrency ?? 2,
    ...(options.removeBg?.maxPixelsInFlight ? { maxPixelsInFlight: options.removeBg.maxPixelsInFlight } : {}),
    maxInputPixels: limitInputPixels,
  });

  return {
    kind: 'local',
    // The bundled model is checked by its digest and loaded by the first remove-bg job (about
    // 65 MiB that a shop which never removes a background does not pay); an operator's own
    // REMOVE_BG_MODEL is loaded here, so a file ONNX Runtime cannot read fails the start.
    start: () => (modelPath === defaultModelPath() ? checkBundledModel(modelPath) : removeBg.start()),
    close: () => removeBg.close(),
    async process(job: ProcessJob): Promise<Buffer> {
      throwIfAborted(job.signal);
      const input = await job.loadInput();
      try {
        switch (job.operation) {
          case 'downscale':
            return await downscale(input);
          case 'upscale':
            return await upscale(input);
          case 'remove-bg':
            return await removeBg.run(input, job.finishing ?? null);
          default:
            throw new PermanentProcessingError(`unknown operation ${String(job.operation)}`);
        }
      } catch (err) {
        if (err instanceof PermanentProcessingError) throw err;
        // sharp: unsupported format, corrupt data, pixel limit exceeded
        throw new PermanentProcessingError(`cannot process the image: ${(err as Error).message}`);
      }
    },
  };
}
