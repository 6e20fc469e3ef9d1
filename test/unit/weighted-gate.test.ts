import { describe, expect, it } from 'vitest';
import { createWeightedGate } from '../../src/lib/weighted-gate.js';

/** Lets resolved acquisitions run their continuations. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('weighted gate', () => {
  it('admits by weight: two 4 MP jobs fit a budget of 8 MP, the third waits until one gives its pixels back', async () => {
    const gate = createWeightedGate(8, 16);
    const admitted: number[] = [];
    const releases = [0, 1, 2].map((i) => gate.acquire(4).then((release) => (admitted.push(i), release)));
    await settle();
    expect(admitted).toEqual([0, 1]);
    expect([gate.count, gate.weight, gate.waiting]).toEqual([2, 8, 1]);
    (await releases[0]!)();
    await settle();
    expect(admitted).toEqual([0, 1, 2]);
    expect([gate.count, gate.weight, gate.waiting]).toEqual([2, 8, 0]);
    (await releases[1]!)();
    (await releases[2]!)();
    expect([gate.count, gate.weight]).toEqual([0, 0]);
  });

  it('bounds the count as well as the weight', async () => {
    const gate = createWeightedGate(100, 2);
    const held = [gate.acquire(1), gate.acquire(1), gate.acquire(1)];
    await settle();
    expect([gate.count, gate.weight, gate.waiting]).toEqual([2, 2, 1]);
    (await held[0]!)();
    await settle();
    expect([gate.count, gate.waiting]).toEqual([2, 0]);
  });

  it('runs a job heavier than the budget alone, and a light one never overtakes it', async () => {
    const gate = createWeightedGate(8, 16);
    const small = await gate.acquire(2);
    const order: string[] = [];
    const huge = gate.acquire(20).then((release) => (order.push('huge'), release));
    const light = gate.acquire(1).then((release) => (order.push('light'), release));
    await settle();
    expect(order).toEqual([]); // the light one would fit, but the huge one is first in line
    expect(gate.waiting).toBe(2);
    small();
    await settle();
    expect(order).toEqual(['huge']);
    expect([gate.count, gate.weight]).toEqual([1, 20]);
    (await huge)();
    await settle();
    expect(order).toEqual(['huge', 'light']);
    (await light)();
    expect([gate.count, gate.weight, gate.waiting]).toEqual([0, 0, 0]);
  });

  it('a release called twice gives its weight back once', async () => {
    const gate = createWeightedGate(8, 16);
    const a = await gate.acquire(4);
    await gate.acquire(4);
    a();
    a();
    expect([gate.count, gate.weight]).toEqual([1, 4]);
  });
});
