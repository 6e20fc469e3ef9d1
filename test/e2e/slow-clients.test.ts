import net from 'node:net';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, devLogin, type TestApp } from '../helpers/app.js';
import { uploadForm } from '../helpers/images.js';

/**
 * Real sockets that send slowly (a byte at a time) or not at all: the server
 * closes them within its deadlines, bounds how many it holds and how many
 * unauthenticated bodies it buffers, and a legitimate large upload still works.
 */

const HEADERS_TIMEOUT_S = 1;
const REQUEST_TIMEOUT_S = 2;
/** Node checks the deadlines every quarter of the shorter one; plus slack for a loaded machine. */
const CLOSE_WITHIN_MS = REQUEST_TIMEOUT_S * 1000 + 2500;

interface SlowSocket {
  socket: net.Socket;
  received: () => string;
  closed: Promise<number>;
  stop: () => void;
}

/** Sends `head`, then `body` one byte every `everyMs` (never finishing if the body is longer than what is sent). */
function slowSocket(port: number, head: string, body: string, everyMs = 50): SlowSocket {
  const socket = net.connect({ host: '127.0.0.1', port });
  const started = Date.now();
  let data = '';
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (chunk) => (data += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.on('connect', () => {
    socket.write(head);
    timer = setInterval(() => {
      if (i < body.length && socket.writable) socket.write(body[i++]!);
    }, everyMs);
  });
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  return { socket, received: () => data, closed, stop: () => socket.destroy() };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms);
    }),
  ]);
}

describe('slow clients on a real socket', () => {
  let t: TestApp;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    t = await createTestApp({
      env: {
        HTTP_HEADERS_TIMEOUT_S: String(HEADERS_TIMEOUT_S),
        HTTP_REQUEST_TIMEOUT_S: String(REQUEST_TIMEOUT_S),
        HTTP_IDLE_TIMEOUT_S: '5',
        HTTP_MAX_CONNECTIONS: '60',
        HTTP_MAX_UNAUTHENTICATED_BODIES: '4',
      },
    });
    ({ cookie } = await devLogin(t.app, 'slow.myshopify.com'));
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  const connections = () => new Promise<number>((resolve, reject) => t.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

  it('40 webhook bodies sent a byte at a time and never finished are all closed within the request timeout', async () => {
    const rssBefore = process.memoryUsage().rss;
    const head = (n: number) =>
      `POST /webhooks/uninstall HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200000\r\nX-Slow: ${n}\r\n\r\n`;
    const sockets = Array.from({ length: 40 }, (_, n) => slowSocket(port, head(n), '{"a":"' + 'x'.repeat(10_000)));
    const durations = await within(Promise.all(sockets.map((s) => s.closed)), CLOSE_WITHIN_MS + 2000, 'all slow bodies closed');
    for (const d of durations) expect(d).toBeLessThan(CLOSE_WITHIN_MS);
    // Each got an answer, not only a dropped socket: 408 past the deadline, or 503 when the body budget was full.
    for (const s of sockets) expect(s.received()).toMatch(/^HTTP\/1\.1 (408|503) /);
    expect(sockets.filter((s) => s.received().startsWith('HTTP/1.1 408')).length).toBeGreaterThan(0);
    await within(
      (async () => {
        while ((await connections()) > 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      1000,
      'the server to drop every slow socket',
    );
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it('a header block sent a byte at a time is closed within the headers timeout', async () => {
    const s = slowSocket(port, '', 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ' + 'x'.repeat(5000), 20);
    const took = await within(s.closed, CLOSE_WITHIN_MS, 'slow headers closed');
    expect(took).toBeLessThan(HEADERS_TIMEOUT_S * 1000 + 2500);
    expect(s.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('with the unauthenticated-body budget full, the next JSON body is a 503 with Retry-After before it is read', async () => {
    const head = `POST /settings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n`;
    const holders = Array.from({ length: 4 }, () => slowSocket(port, head, '{"x":"' + 'y'.repeat(4000), 100));
    try {
      // The holders' bodies are being read: wait until the server has all of them.
      await within(
        (async () => {
          while ((await connections()) < 4) await new Promise((r) => setImmediate(r));
        })(),
        2000,
        'holders connected',
      );
      await new Promise((r) => setTimeout(r, 200)); // their headers are parsed (a few bytes of body sent)
      const res = await fetch(`http://127.0.0.1:${port}/settings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: '{}',
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { code: string }).code).toBe('BUSY');
      // Reads and authenticated multipart uploads are not in the budget.
      expect((await fetch(`http://127.0.0.1:${port}/health`, { headers: { connection: 'close' } })).status).toBe(200);
    } finally {
      for (const h of holders) h.stop();
    }
    await within(Promise.all(holders.map((h) => h.closed)), 2000, 'holders gone');
    // The slots come back once the holders are gone.
    const after = await fetch(`http://127.0.0.1:${port}/settings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: '{}',
    });
    expect(after.status).toBe(401);
  });

  it('a webhook declaring a body over its limit is a 413 before any of it is sent', async () => {
    const s = slowSocket(
      port,
      'POST /webhooks/uninstall HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n',
      '',
    );
    await within(
      (async () => {
        while (!s.received().includes('\r\n\r\n')) await new Promise((r) => setTimeout(r, 10));
      })(),
      2000,
      'an answer',
    );
    expect(s.received()).toMatch(/^HTTP\/1\.1 413 /);
    s.stop();
  });

  it('connections beyond HTTP_MAX_CONNECTIONS are closed at once', async () => {
    const idle = Array.from({ length: 60 }, () => slowSocket(port, '', ''));
    try {
      await within(
        (async () => {
          while ((await connections()) < 60) await new Promise((r) => setTimeout(r, 10));
        })(),
        3000,
        '60 connections',
      );
      const extra = slowSocket(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', '');
      await within(extra.closed, 2000, 'the extra connection closed');
      expect(extra.received()).toBe('');
    } finally {
      for (const s of idle) s.stop();
    }
  });

  it('a legitimate 20 MB upload over a real socket is accepted', async () => {
    // A photo-like image whose encoding is close to 20 MB (noise compresses badly).
    const photo = await sharp({ create: { width: 2450, height: 2450, channels: 3, background: '#c8d2dc', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    expect(photo.length).toBeGreaterThan(15 * 1024 * 1024);
    expect(photo.length).toBeLessThan(20 * 1024 * 1024);
    const form = uploadForm(photo, 'downscale', 'big.png', 'image/png');
    const res = await fetch(`http://127.0.0.1:${port}/upload`, {
      method: 'POST',
      headers: { ...form.headers, cookie, connection: 'close' },
      body: form.payload,
    });
    expect(res.status).toBe(202);
  });
});
