import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PROBE = path.resolve('test/helpers/file-handle-probe.ts');

describe('stored files served as streams', () => {
  it('leave no file handle for the garbage collector (DEP0137), however the download ends', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', PROBE], {
      env: { PATH: process.env.PATH ?? '' },
      timeout: 60_000,
    });
    const { closedOnGc, leftOpen } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { closedOnGc: number; leftOpen: number };
    expect(closedOnGc).toBe(0);
    expect(leftOpen).toBeLessThanOrEqual(0);
  }, 90_000);
});
