import sharp, { type Sharp } from 'sharp';
import {
  PermanentProcessingError,
  type ProcessJob,
  type Processor,
  throwIfAborted,
} from './processor.js';
import { removeBackground, type RemoveBgOptions } from './remove-bg.js';

export interface LocalProcessorOptions {
  /** Decoded pixel limit of an input (sharp's limitInputPixels; MAX_INPUT_PIXELS). */
  maxInputPixels: number;
  /** Largest upscale result in pixels (default: maxInputPixels). */
  maxOutputPixels?: number;
  /** Downscale target, as the provider's max_size_mb (default 2). */
  downscaleMaxMb?: number;
  removeBg?: RemoveBgOptions;
  /**
   * remove-bg computes its mask on at most this many pixels (default 16 M); a
   * larger image gets the mask resized to full size (memory ~19 bytes/pixel).
   */
  maxMaskPixels?: number;
}

/** A pipeline (decode, resize, encode) of an accepted image takes seconds; far past that it is a decoder bomb. */
export const JOB_DECODE_TIMEOUT_S = 120;

/**
 * The embedded processor: sharp only, offline. Every output is a PNG. Bad
 * input (not an image, too many pixels) is a PermanentProcessingError: a retry
 * would fail the same way.
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

  const maxMaskPixels = options.maxMaskPixels ?? 16_000_000;

  async function removeBg(input: Buffer): Promise<Buffer> {
    const full = await size(input);
    if (full.width * full.height <= maxMaskPixels) return removeBgAt(open(input));
    // Large image: the mask is computed on a reduced copy, its alpha resized to
    // full size and joined to the full-resolution colours.
    const k = Math.sqrt(maxMaskPixels / (full.width * full.height));
    const small = await removeBgAt(
      open(input).resize(Math.max(1, Math.floor(full.width * k)), Math.max(1, Math.floor(full.height * k)), { fit: 'fill' }),
    );
    const alpha = await sharp(small).extractChannel(3).resize(full.width, full.height, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
    // two steps: sharp applies removeAlpha after joinChannel within one pipeline
    const rgb = await open(input).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return sharp(rgb.data, { raw: { width: rgb.info.width, height: rgb.info.height, channels: 3 } })
      .joinChannel(alpha, { raw: { width: full.width, height: full.height, channels: 1 } })
      .png()
      .toBuffer();
  }

  async function removeBgAt(image: Sharp): Promise<Buffer> {
    const { data, info } = await image.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    let raw: Uint8Array = data;
    let ch: 3 | 4;
    if (channels === 3 || channels === 4) ch = channels;
    else {
      // grey or grey+alpha: expand to RGBA via sharp
      const expanded = await sharp(data, { raw: { width: info.width, height: info.height, channels } })
        .toColourspace('srgb')
        .ensureAlpha()
        .raw()
        .toBuffer();
      raw = expanded;
      ch = 4;
    }
    const { rgba } = removeBackground({ data: raw, width: info.width, height: info.height, channels: ch }, options.removeBg);
    return sharp(rgba, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toBuffer();
  }

  return {
    kind: 'local',
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
            return await removeBg(input);
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
