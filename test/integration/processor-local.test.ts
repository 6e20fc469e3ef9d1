import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalProcessor } from '../../src/adapters/processor/local.js';
import {
  type Operation,
  PermanentProcessingError,
  ProcessingAbortedError,
  type ProcessJob,
  isProcessingAborted,
} from '../../src/adapters/processor/processor.js';

const processor = createLocalProcessor({ maxInputPixels: 50_000_000 });
afterAll(() => processor.close?.());

function job(operation: Operation, input: Buffer, extra: Partial<ProcessJob> = {}): ProcessJob {
  return {
    imageId: '7d3c6c1e-8a43-4e0b-9a55-1f1f5d0b2c11',
    operation,
    loadInput: async () => input,
    inputUrl: async () => {
      throw new Error('the local processor never asks for a URL');
    },
    providerTaskId: null,
    saveProviderTaskId: async () => {
      throw new Error('the local processor has no provider task');
    },
    deadline: new Date(Date.now() + 60_000),
    ...extra,
  };
}

async function noisePng(width: number, height: number): Promise<Buffer> {
  const raw = randomBytes(width * height * 3); // incompressible
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

describe('local processor: downscale', () => {
  it('shrinks a PNG over 2 MB until it fits, keeping the aspect ratio', async () => {
    const input = await noisePng(1200, 900);
    expect(input.length).toBeGreaterThan(2 * 1024 * 1024);
    const out = await processor.process(job('downscale', input));
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect(out.length).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(meta.width).toBeLessThan(1200);
    expect(meta.height).toBeLessThan(900);
    expect(Math.abs(meta.width! / meta.height! - 4 / 3)).toBeLessThan(0.01);
    // not needlessly small: most of the budget is used (the processor aims at 90 % and steps up once under 75 %)
    expect(out.length).toBeGreaterThan(0.7 * 2 * 1024 * 1024);
  });

  it('never enlarges: an image that already fits keeps its dimensions', async () => {
    const input = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#3366cc' } }).jpeg().toBuffer();
    const out = await processor.process(job('downscale', input));
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([640, 480]);
  });

  it('large inputs (estimated on a probe) also fit, and stay full size when they already fit', async () => {
    const noisy = await noisePng(1800, 1500);
    const out = await processor.process(job('downscale', noisy));
    const meta = await sharp(out).metadata();
    expect(out.length).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(out.length).toBeGreaterThan(0.7 * 2 * 1024 * 1024);
    expect(Math.abs(meta.width! / meta.height! - 1.2)).toBeLessThan(0.01);

    const plain = await sharp({ create: { width: 2400, height: 1600, channels: 3, background: '#eeddcc' } }).jpeg().toBuffer();
    const kept = await sharp(await processor.process(job('downscale', plain))).metadata();
    expect([kept.format, kept.width, kept.height]).toEqual(['png', 2400, 1600]);
  });

  it('honours downscaleMaxMb', async () => {
    const small = createLocalProcessor({ maxInputPixels: 50_000_000, downscaleMaxMb: 0.25 });
    const input = await noisePng(600, 400);
    const out = await small.process(job('downscale', input));
    expect(out.length).toBeLessThanOrEqual(0.25 * 1024 * 1024);
    const meta = await sharp(out).metadata();
    expect(meta.width).toBeLessThan(600);
    expect(Math.abs(meta.width! / meta.height! - 1.5)).toBeLessThan(0.02);
  });
});

describe('local processor: upscale', () => {
  it('doubles both dimensions exactly and answers PNG', async () => {
    const input = await sharp({ create: { width: 123, height: 77, channels: 3, background: '#a0522d' } }).jpeg().toBuffer();
    const out = await processor.process(job('upscale', input));
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([246, 154]);
  });

  it('keeps an alpha channel through the upscale', async () => {
    const input = await sharp({ create: { width: 20, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const meta = await sharp(await processor.process(job('upscale', input))).metadata();
    expect([meta.width, meta.height, meta.hasAlpha]).toEqual([40, 20, true]);
  });

  it('refuses an upscale whose result would exceed the pixel limit', async () => {
    const tight = createLocalProcessor({ maxInputPixels: 100_000 });
    const input = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#fff' } }).png().toBuffer();
    await expect(tight.process(job('upscale', input))).rejects.toThrow(PermanentProcessingError);
  });
});

describe('local processor: bad input', () => {
  it('garbage is a permanent error', async () => {
    await expect(processor.process(job('upscale', Buffer.from('not an image at all')))).rejects.toThrow(PermanentProcessingError);
  });

  it('an image over maxInputPixels is a permanent error (decompression bombs)', async () => {
    const tight = createLocalProcessor({ maxInputPixels: 10_000 });
    const input = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#fff' } }).png().toBuffer();
    try {
      for (const op of ['remove-bg', 'upscale', 'downscale'] as const) {
        await expect(tight.process(job(op, input))).rejects.toThrow(PermanentProcessingError);
      }
    } finally {
      await tight.close?.();
    }
  });

  it('an aborted job stops before work with an AbortError the queue recognises', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await processor.process(job('upscale', Buffer.alloc(1), { signal: controller.signal })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessingAbortedError);
    expect((err as Error).name).toBe('AbortError');
    expect(isProcessingAborted(err)).toBe(true);
  });
});

describe('local processor: orientation and factory', () => {
  it('applies the EXIF orientation before processing', async () => {
    const input = await sharp({ create: { width: 100, height: 50, channels: 3, background: '#123456' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const meta = await sharp(await processor.process(job('upscale', input))).metadata();
    expect([meta.width, meta.height]).toEqual([100, 200]);
  });

  it('createProcessor picks the adapter from the config', async () => {
    const { createProcessor } = await import('../../src/adapters/processor/create.js');
    expect(createProcessor({ processor: { kind: 'local' }, maxInputPixels: 1e6 }).kind).toBe('local');
    expect(
      createProcessor({ processor: { kind: 'makeit3d', apiKey: 'k', baseUrl: 'https://api.makeit3d.io' }, maxInputPixels: 1e6 }).kind,
    ).toBe('makeit3d');
  });
});
