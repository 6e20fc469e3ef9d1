import { createServer } from 'node:net';

/** A TCP port that was free a moment ago on 127.0.0.1 (for servers whose URL must be known before they start). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * fetch() on a connection that closes after the answer: a kept-alive undici
 * socket can keep a server's close() waiting (seen with app.close()).
 */
export function fetchOnce(url: string | URL): Promise<Response> {
  return fetch(url, { headers: { connection: 'close' } });
}
