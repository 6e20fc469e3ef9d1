import sharp from 'sharp';
import {
  PermanentProcessingError,
  type ProcessJob,
  type Processor,
  throwIfAborted,
} from './processor.js';
import { defaultModelPath } from './remove-bg/model-path.js';
import { createRemoveBgRunner } from './remove-bg/pool.js';

export interface RemoveBgSettings {
  /** An ONNX segmentation model (REMOVE_BG_MODEL; default u2netp, see docs/remove-bg.md). */
  modelPath?: string;
  /** ONNX Runtime intra-op threads (REMOVE_BG_THREADS). */
  threads?: number;
  /** remove-bg jobs running at once in this process (REMOVE_BG_CONCURRENCY). */
  concurrency?: number;
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
 * the same way. `start()` loads the model (a start-up error when it cannot);
 * `close()` ends the thread.
 */
export function createLocalProcessor(options: LocalProcessorOptions): Processor {
  const limitInputPixels = options.maxInputPixels;
  const maxOutputPixels = options.maxOutputPixels ?? options.maxInputPixels;
  const maxBytes = Math.floor((options.downscaleMaxMb ?? 2) * 1024 * 1024);
  // The request only read the header: a file that decodes too slowly fails here (no retry), not in the API.
  const open = (input: Buffer) =>
    sharp(input, { limitInputPixels, failOn: 'error' }).timeout({ seconds: JOB_DECODE_TIMEOUT_S }).rotate();

  async function size(input: Buffer): Promise<{ width: number; height: number }> {
    // rotate() applied: read the oriented size from a raw decode header
    const meta = await sharp(input, { limitInputPixels, failOn: 'error' }).metadata();
    if (!meta.width || !meta.height) throw new PermanentProcessingError('input has no dimensions');
    const swap = (meta.orientation ?? 1) >= 5;
    return swap ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
  }

  const encodePng = (input: Buffer, w: number, h: number, full: { width: number; height: number }) => {
    const pipeline = open(input);
    if (w !== full.width || h !== full.height) pipeline.resize(w, h, { fit: 'fill', kernel: 'lanczos3' });
    return pipeline.png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer(); // level 9 is 5x slower for ~10 %
  };

  async function downscale(input: Buffer): Promise<Buffer> {
    const full = await size(input);
    const pixels = full.width * full.height;
    let scale = 1;
    // Large images: estimate the PNG bytes per pixel on a ~1 MP probe instead of
    // encoding the full image (a 12 MP PNG encode takes seconds). A smaller
    // copy has more detail per pixel, so the estimate errs on the small side.
    const PROBE = 1_000_000;
    if (pixels > 2 * PROBE) {
      const k = Math.sqrt(PROBE / pixels);
      const pw = Math.max(1, Math.round(full.width * k));
      const ph = Math.max(1, Math.round(full.height * k));
      const probe = await encodePng(input, pw, ph, full);
      const fit = (maxBytes * 0.95) / (probe.length / (pw * ph));
      scale = Math.min(1, Math.sqrt(fit / pixels));
    }
    for (let attempt = 0; attempt < 12; attempt++) {
      const w = Math.max(1, Math.floor(full.width * scale));
      const h = Math.max(1, Math.floor(full.height * scale));
      const png = await encodePng(input, w, h, full);
      if (png.length <= maxBytes || (w === 1 && h === 1)) {
        // The probe's estimate was cautious: one step back up when much of the budget is unused.
        if (scale < 1 && attempt === 0 && png.length < 0.85 * maxBytes) {
          const up = Math.min(1, scale * Math.sqrt((maxBytes * 0.95) / png.length));
          const bigger = await encodePng(input, Math.max(1, Math.floor(full.width * up)), Math.max(1, Math.floor(full.height * up)), full);
          if (bigger.length <= maxBytes) return bigger;
        }
        return png;
      }
      // PNG size grows about with the pixel count: aim a little below the target.
      scale *= Math.min(0.9, Math.sqrt(maxBytes / png.length) * 0.95);
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

  const removeBg = createRemoveBgRunner({
    modelPath: options.removeBg?.modelPath ?? defaultModelPath(),
    threads: options.removeBg?.threads ?? 2,
    concurrency: options.removeBg?.concurrency ?? 2,
    maxInputPixels: limitInputPixels,
  });

  return {
    kind: 'local',
    start: () => removeBg.start(),
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
