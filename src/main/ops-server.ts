import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Container } from '../container.js';
import { readiness } from '../http/routes/ops.js';

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A worker serves no API, but its container's HEALTHCHECK and Prometheus still
 * need to reach it: GET /health (liveness), /ready (database, queue, storage)
 * and /metrics (its jobs, provider latency and refunds, which only it counts).
 */
export async function startOpsServer(c: Container, opts: { port: number; host: string }): Promise<OpsServer> {
  const json = (res: http.ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));

  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'Method not allowed', code: 'METHOD_NOT_ALLOWED' });
    if (url === '/health') return json(res, 200, { status: 'ok' });
    if (url === '/ready') {
      void readiness(c).then(({ ready, checks }) => json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks }));
      return;
    }
    if (url === '/metrics') {
      void c
        .refreshGauges()
        .then(() => c.metrics.registry.metrics())
        .then(
          (text) => res.writeHead(200, { 'content-type': c.metrics.registry.contentType }).end(text),
          () => json(res, 500, { error: 'Internal Server Error', code: 'INTERNAL' }),
        );
      return;
    }
    json(res, 404, { error: 'Not found', code: 'NOT_FOUND' });
  });
  // Nothing here reads a body; slow or idle clients are dropped early.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
