import sharp from 'sharp';
import { PermanentProcessingError, type Processor } from './processor.js';

/** Interim local processor (upscale/downscale); remove-bg arrives with the processor branch. */
export function createLocalProcessor(opts: { maxInputPixels: number }): Processor {
  return {
    kind: 'local',
    async process(job) {
      const input = await job.loadInput();
      const img = sharp(input, { limitInputPixels: opts.maxInputPixels });
      const meta = await img.metadata();
      if (job.operation === 'upscale') {
        return img.resize(meta.width! * 2, meta.height! * 2, { kernel: 'lanczos3' }).png().toBuffer();
      }
      if (job.operation === 'downscale') {
        return img.resize(Math.max(1, Math.round(meta.width! / 2))).png().toBuffer();
      }
      throw new PermanentProcessingError('remove-bg is not available in this build');
    },
  };
}
