import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createLocalProcessor } from '../../src/adapters/processor/local.js';
import {
  type Operation,
  PermanentProcessingError,
  ProcessingAbortedError,
  type ProcessJob,
  isProcessingAborted,
} from '../../src/adapters/processor/processor.js';
import { maskIoU, productShots } from '../helpers/product-shots.js';

const processor = createLocalProcessor({ maxInputPixels: 50_000_000 });

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
    // not needlessly small: at least half of the budget is used
    expect(out.length).toBeGreaterThan(1024 * 1024);
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
    expect(out.length).toBeGreaterThan(1024 * 1024);
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
    for (const op of ['remove-bg', 'upscale', 'downscale'] as const) {
      await expect(tight.process(job(op, input))).rejects.toThrow(PermanentProcessingError);
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

describe('local processor: remove-bg', () => {
  it('answers a PNG with an alpha channel and the input dimensions', async () => {
    const input = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#ffffff' } })
      .composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><circle cx="150" cy="100" r="60" fill="#222"/></svg>') }])
      .jpeg()
      .toBuffer();
    const out = await processor.process(job('remove-bg', input));
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height, meta.hasAlpha, meta.channels]).toEqual([300, 200, true, 4]);
    const { data } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect(data[3]).toBe(0); // corner: background, transparent
    expect(data[(100 * 300 + 150) * 4 + 3]).toBe(255); // centre: object, opaque
  });

  it('keeps an existing transparency and handles greyscale input', async () => {
    const grey = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
      .composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect x="16" y="16" width="32" height="32" fill="#000"/></svg>') }])
      .greyscale()
      .png()
      .toBuffer();
    const out = await processor.process(job('remove-bg', grey));
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    expect(data[3]).toBe(0);
    expect(data[(32 * 64 + 32) * 4 + 3]).toBe(255);
  });

  it('reaches a mean IoU >= 0.9 on synthetic product shots with known masks', async () => {
    const shots = await productShots();
    const scores: Array<[string, number]> = [];
    for (const shot of shots) {
      const out = await processor.process(job('remove-bg', shot.input));
      const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([shot.width, shot.height, 4]);
      scores.push([shot.name, maskIoU(data, shot.mask)]);
    }
    const mean = scores.reduce((s, [, v]) => s + v, 0) / scores.length;
    process.stdout.write(
      `remove-bg IoU: ${scores.map(([n, v]) => `${n}=${v.toFixed(3)}`).join(', ')}; mean=${mean.toFixed(4)}\n`,
    );
    expect(mean).toBeGreaterThanOrEqual(0.9);
    // Every shot without a see-through hole is segmented well (holes are a documented limit).
    for (const [name, iou] of scores) if (!name.includes('hole')) expect(iou, name).toBeGreaterThanOrEqual(0.94);
  });

  it('large images: the mask is computed on a reduced copy and resized to full size', async () => {
    const reduced = createLocalProcessor({ maxInputPixels: 50_000_000, maxMaskPixels: 40_000 });
    const shots = (await productShots()).slice(0, 3);
    for (const shot of shots) {
      const out = await reduced.process(job('remove-bg', shot.input));
      const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([shot.width, shot.height, 4]);
      expect(maskIoU(data, shot.mask), shot.name).toBeGreaterThanOrEqual(0.97);
    }
  });

  it('processes a 2000x2000 photo in well under a few seconds', async () => {
    const input = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#f2f2f2' } })
      .composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="2000"><rect x="400" y="300" width="1200" height="1400" rx="80" fill="#8b0000"/></svg>') }])
      .jpeg({ quality: 85 })
      .toBuffer();
    const started = performance.now();
    const out = await processor.process(job('remove-bg', input));
    const ms = performance.now() - started;
    process.stdout.write(`remove-bg 2000x2000: ${ms.toFixed(0)} ms\n`);
    expect(ms).toBeLessThan(4000);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.hasAlpha]).toEqual([2000, 2000, true]);
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
