import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPublicAddress,
  outboundFetch,
  OutboundRefusedError,
  OutboundTooLargeError,
} from '../../src/adapters/outbound/fetch.js';

/** Two servers on loopback: one the operator trusts, one standing for an internal service. */
function serve(handler: http.RequestListener): Promise<{ origin: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        origin: `http://127.0.0.1:${port}`,
        hits: () => hits,
        close: () => new Promise((r) => server.close(() => r())),
      });
    }),
  );
}

describe('outboundFetch', () => {
  let internal: Awaited<ReturnType<typeof serve>>;
  let trusted: Awaited<ReturnType<typeof serve>>;
  const anyUrl = () => {};

  beforeAll(async () => {
    internal = await serve((_req, res) => res.end('secret'));
    trusted = await serve((req, res) => {
      if (req.url === '/to-internal') return res.writeHead(302, { location: `${internal.origin}/` }).end();
      if (req.url === '/to-localhost') return res.writeHead(302, { location: internal.origin.replace('127.0.0.1', 'localhost') }).end();
      if (req.url === '/to-metadata') return res.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (req.url === '/loop') return res.writeHead(302, { location: '/loop' }).end();
      if (req.url === '/big') return res.writeHead(200, { 'content-length': '5000' }).end(Buffer.alloc(5000));
      if (req.url === '/big-chunked') {
        res.writeHead(200);
        res.write(Buffer.alloc(3000));
        return res.end(Buffer.alloc(3000));
      }
      if (req.url === '/missing') return res.writeHead(404).end('no');
      res.end('image bytes');
    });
  });
  afterAll(async () => {
    await internal.close();
    await trusted.close();
  });

  const opts = () => ({ checkUrl: anyUrl, trustedOrigins: [trusted.origin], maxBytes: 4096, timeoutMs: 5000 });

  it('fetches from a trusted origin', async () => {
    const res = await outboundFetch(`${trusted.origin}/ok`, opts());
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('image bytes');
  });

  it('refuses loopback, private and link-local addresses, literally or by name, without connecting', async () => {
    const before = internal.hits();
    for (const url of [
      `${internal.origin}/`,
      internal.origin.replace('127.0.0.1', 'localhost'),
      'http://10.1.2.3/',
      'http://192.168.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://0.0.0.0/',
    ]) {
      await expect(outboundFetch(url, opts()), url).rejects.toBeInstanceOf(OutboundRefusedError);
    }
    expect(internal.hits()).toBe(before);
  });

  it('re-checks every redirect hop', async () => {
    const before = internal.hits();
    await expect(outboundFetch(`${trusted.origin}/to-internal`, opts())).rejects.toBeInstanceOf(OutboundRefusedError);
    await expect(outboundFetch(`${trusted.origin}/to-localhost`, opts())).rejects.toBeInstanceOf(OutboundRefusedError);
    await expect(outboundFetch(`${trusted.origin}/to-metadata`, opts())).rejects.toBeInstanceOf(OutboundRefusedError);
    await expect(outboundFetch(`${trusted.origin}/loop`, opts())).rejects.toThrow(/too many redirects/);
    expect(internal.hits()).toBe(before);
  });

  it("applies the caller's URL rule to every hop", async () => {
    const checkUrl = (url: URL) => {
      if (url.pathname !== '/to-internal') throw new OutboundRefusedError(`not allowed: ${url.pathname}`);
    };
    await expect(
      outboundFetch(`${trusted.origin}/to-internal`, { ...opts(), trustedOrigins: [trusted.origin, internal.origin], checkUrl }),
    ).rejects.toThrow(/not allowed: \//);
  });

  it('caps the body, declared or streamed', async () => {
    await expect(outboundFetch(`${trusted.origin}/big`, opts())).rejects.toBeInstanceOf(OutboundTooLargeError);
    await expect(outboundFetch(`${trusted.origin}/big-chunked`, opts())).rejects.toBeInstanceOf(OutboundTooLargeError);
  });

  it('returns a non-2xx answer without its body, and refuses odd URLs', async () => {
    const res = await outboundFetch(`${trusted.origin}/missing`, opts());
    expect([res.status, res.body.length]).toEqual([404, 0]);
    for (const url of ['file:///etc/passwd', 'ftp://example.com/', 'not a url', `http://user:pw@127.0.0.1:1/`]) {
      await expect(outboundFetch(url, opts()), url).rejects.toBeInstanceOf(OutboundRefusedError);
    }
  });
});

describe('isPublicAddress', () => {
  it.each([
    ['8.8.8.8', true],
    ['151.101.1.1', true],
    ['2606:4700::1111', true],
    ['127.0.0.1', false],
    ['10.0.0.1', false],
    ['172.16.5.4', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['255.255.255.255', false],
    ['224.0.0.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fd00::1', false],
    ['::ffff:10.0.0.1', false],
    ['::ffff:8.8.8.8', true],
    ['not-an-ip', false],
  ])('%s -> %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});
