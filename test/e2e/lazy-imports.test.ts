import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PROBE = path.resolve('test/helpers/import-probe.ts');

async function packagesLoaded(env: Record<string, string>): Promise<string[]> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'probe-'));
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', PROBE], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env },
      timeout: 120_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('start-up loads only the adapters the configuration uses', () => {
  it('embedded mode: no S3 SDK, Supabase client, BullMQ, ioredis or Shopify library', async () => {
    const loaded = await packagesLoaded({});
    expect(loaded).toContain('@electric-sql/pglite'); // the probe sees what is loaded
    for (const unused of ['@aws-sdk/client-s3', '@supabase/storage-js', 'bullmq', 'ioredis', '@shopify/shopify-api', '@sentry/node']) {
      expect(loaded).not.toContain(unused);
    }
  }, 150_000);
});
