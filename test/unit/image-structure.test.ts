import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { checkJpeg, checkPng, checkStructure, checkWebp } from '../../src/adapters/images/structure.js';
import { createSemaphore } from '../../src/lib/semaphore.js';
import { productShot } from '../helpers/images.js';
import { countScans, progressiveJpeg, scanBombJpeg } from '../helpers/jpeg-bomb.js';

describe('cheap image structure checks', () => {
  it('a baseline and a normal progressive JPEG pass; their scans are counted', async () => {
    expect(checkJpeg(await productShot(640, 480, 'jpeg'))).toBeNull();
    const progressive = await progressiveJpeg();
    expect(countScans(progressive)).toBeGreaterThan(5);
    expect(checkJpeg(progressive)).toBeNull();
    expect(checkJpeg(progressive, countScans(progressive) - 1)).toBe('too_many_scans');
  });

  it('the scan bomb is a valid JPEG that really costs a decoder many times a normal one of its size', async () => {
    const [bomb, normal] = await Promise.all([scanBombJpeg(1000, 1000), progressiveJpeg(1000, 1000)]);
    const decodeMs = async (jpeg: Buffer) => {
      const started = performance.now();
      const { info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
      expect(info).toMatchObject({ width: 1000, height: 1000 });
      return performance.now() - started;
    };
    // sharp fails on decoder warnings by default: decoding at all proves the progression is valid, not refused cheaply.
    const [normalMs, bombMs] = [await decodeMs(normal), await decodeMs(bomb)];
    expect(bomb.length).toBeLessThan(normal.length);
    expect(bombMs).toBeGreaterThan(5 * normalMs);
  });

  it('a JPEG with thousands of scans is too_many_scans, found in milliseconds', async () => {
    const bomb = await scanBombJpeg();
    expect(countScans(bomb)).toBeGreaterThan(2600);
    const started = performance.now();
    expect(checkJpeg(bomb)).toBe('too_many_scans');
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('cut-short images are truncated', async () => {
    const jpeg = await progressiveJpeg();
    expect(checkJpeg(jpeg.subarray(0, jpeg.length - 200))).toBe('truncated');
    expect(checkJpeg(jpeg.subarray(0, 3))).toBe('truncated');
    const png = await productShot(64, 64, 'png');
    expect(checkPng(png)).toBeNull();
    expect(checkPng(png.subarray(0, png.length - 20))).toBe('truncated');
    const webp = await sharp(await productShot(64, 64, 'png')).webp().toBuffer();
    expect(checkWebp(webp)).toBeNull();
    expect(checkWebp(webp.subarray(0, webp.length - 10))).toBe('truncated');
  });
});

describe('cut-short GIF, TIFF and AVIF', () => {
  const photo = () => progressiveJpeg(320, 240);
  const images: Array<[string, 'gif' | 'tiff' | 'avif', () => Promise<Buffer>]> = [
    ['a GIF', 'gif', async () => sharp(await photo()).gif().toBuffer()],
    ['an animated GIF', 'gif', async () => sharp(await Promise.all([photo(), photo(), photo()]), { join: { animated: true } }).gif().toBuffer()],
    ['a JPEG-compressed TIFF', 'tiff', async () => sharp(await photo()).tiff().toBuffer()],
    ['a tiled pyramid TIFF', 'tiff', async () => sharp(await photo()).tiff({ tile: true, pyramid: true }).toBuffer()],
    ['an AVIF', 'avif', async () => sharp(await photo()).avif().toBuffer()],
  ];

  it.each(images)('%s whole passes; cut anywhere its header still reads, it is truncated', async (_name, format, make) => {
    const image = await make();
    expect(checkStructure(format, image)).toBeNull();
    // Cuts at every byte of the tail and a hundred points before it; keep those sharp's header reader accepts.
    const cuts = [...Array.from({ length: 64 }, (_, k) => image.length - 1 - k), ...Array.from({ length: 99 }, (_, k) => Math.floor((image.length * (k + 1)) / 100))];
    const accepted: number[] = [];
    for (const cut of cuts) {
      const short = image.subarray(0, cut);
      if (await sharp(short).metadata().then(() => true, () => false)) accepted.push(cut);
    }
    expect(accepted.length).toBeGreaterThan(0);
    for (const cut of accepted) expect([cut, checkStructure(format, image.subarray(0, cut))]).toEqual([cut, 'truncated']);
  });
});

describe('the image-work semaphore', () => {
  it('runs at most its slots at once, queues the rest in order and refuses past the line', async () => {
    const sem = createSemaphore(2, 3);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const task = (n: number) =>
      sem.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((resolve) => releases.push(resolve));
        order.push(n);
        running--;
      });
    const tasks = [1, 2, 3, 4, 5].map(task);
    await expect(task(6)).rejects.toMatchObject({ kind: 'unavailable', code: 'BUSY', retryAfterSeconds: 1 });
    expect(sem.running).toBe(2);
    expect(sem.waiting).toBe(3);
    while (order.length < 5) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    await Promise.all(tasks);
    expect(peak).toBe(2);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(sem.running).toBe(0);
  });
});
