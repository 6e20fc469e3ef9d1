import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBundledModel, defaultModelPath } from '../../src/adapters/processor/remove-bg/model-path.js';

describe('the bundled model check (start-up, without loading ONNX Runtime)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bundled-model-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the pinned package file', async () => {
    await expect(checkBundledModel(defaultModelPath())).resolves.toBeUndefined();
  });

  it('refuses a copy with one byte changed, naming the file', async () => {
    const damaged = path.join(dir, 'u2netp.onnx');
    copyFileSync(defaultModelPath(), damaged);
    const bytes = readFileSync(damaged);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff;
    writeFileSync(damaged, bytes);
    await expect(checkBundledModel(damaged)).rejects.toThrow(/u2netp\.onnx is not the bundled u2netp model/);
  });
});
