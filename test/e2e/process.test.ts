import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, PROCESS_START_TIMEOUT_MS, type Spawned, spawnEntry, waitFor } from '../helpers/process.js';

/** Sends raw bytes and resolves with everything the server answers until it closes or `until` matches. */
function raw(port: number, data: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString();
      if (until?.test(answer)) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('the API process', () => {
  let port: number;
  let api: Spawned;
  beforeAll(async () => {
    port = await freePort();
    api = spawnEntry('src/main/api.ts', { DATA_DIR: mkdtempSync(path.join(tmpdir(), 'api-proc-')), PORT: String(port), HOST: '127.0.0.1' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, PROCESS_START_TIMEOUT_MS, '/health');
  }, PROCESS_START_TIMEOUT_MS + 10_000);
  afterAll(() => {
    if (api.child.exitCode === null) api.child.kill('SIGKILL');
  });

  it('answers an oversized header block with a JSON 431', async () => {
    const answer = await raw(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain('"code":"HEADERS_TOO_LARGE"');
  });

  it('answers malformed HTTP with a JSON 400', async () => {
    const answer = await raw(port, 'THIS IS NOT HTTP\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"code":"BAD_REQUEST"');
  });

  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    // Half a request: the server is now busy with it.
    socket.write('POST /auth/dev-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{');
    await waitFor(async () => api.output().includes('"url":"/auth/dev-login"'), 5000, 'the request to be logged');
    api.child.kill('SIGTERM');
    await waitFor(async () => api.output().includes('shutting down'), 5000, 'shutdown to start');
    expect(api.child.exitCode).toBeNull(); // still waiting for our request
    socket.write('}');
    await waitFor(async () => answer.includes('\r\n\r\n{'), 5000, 'the answer');
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(await api.exited).toBe(0);
    socket.destroy();
  });
});

describe('start-up', () => {
  it('stops with one line naming a bad variable', async () => {
    const proc = spawnEntry('src/main/api.ts', { DATA_DIR: mkdtempSync(path.join(tmpdir(), 'api-bad-')), PORT: 'eighty' });
    expect(await proc.exited).toBe(1);
    expect(proc.output().trim()).toMatch(/^Configuration error: PORT: [^\n]+$/);
  });

  it('stops with one line naming REMOVE_BG_MODEL when the model file is missing or corrupt', { timeout: PROCESS_START_TIMEOUT_MS }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'api-model-'));
    const corrupt = path.join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, 'not an onnx graph at all');
    // Both at once (each its own data dir): two process start-ups in the time of one.
    const models = [path.join(dir, 'missing.onnx'), corrupt];
    const procs = models.map((model, i) =>
      spawnEntry('src/main/api.ts', { DATA_DIR: path.join(dir, `data-${i}`), PORT: '0', HOST: '127.0.0.1', REMOVE_BG_MODEL: model }),
    );
    try {
      for (const [i, proc] of procs.entries()) {
        expect(await proc.exited, proc.output()).toBe(1);
        expect(proc.output().trim()).toMatch(/^Configuration error: REMOVE_BG_MODEL: [^\n]+$/);
        expect(proc.output()).toContain(models[i]);
      }
    } finally {
      for (const proc of procs) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
  });
});

describe('shutdown with an open event stream', () => {
  it('ends the stream and exits 0 on SIGTERM', { timeout: PROCESS_START_TIMEOUT_MS + 30_000 }, async () => {
    const port = await freePort();
    const api = spawnEntry('src/main/api.ts', { DATA_DIR: mkdtempSync(path.join(tmpdir(), 'api-sse-')), PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, PROCESS_START_TIMEOUT_MS, '/health');
      const login = await fetch(`http://127.0.0.1:${port}/auth/dev-login?shop=sse.myshopify.com`);
      const { token } = (await login.json()) as { token: string };
      const stream = await fetch(`http://127.0.0.1:${port}/images/events`, { headers: { cookie: `session=${token}` } });
      expect(stream.status).toBe(200);
      const reader = stream.body!.getReader();
      await reader.read(); // the ': connected' comment
      api.child.kill('SIGTERM');
      expect(await api.exited).toBe(0);
      const rest = await reader.read().catch(() => ({ done: true }));
      expect(rest.done).toBe(true);
    } finally {
      if (api.child.exitCode === null) api.child.kill('SIGKILL');
    }
  });
});
