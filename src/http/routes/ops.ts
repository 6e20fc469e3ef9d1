import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Container } from '../../container.js';
import { withTimeout } from '../../lib/timeout.js';

const CheckState = Type.Union([Type.Literal('ok'), Type.Literal('fail')]);
const ReadyAnswer = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({ db: CheckState, queue: CheckState, storage: CheckState }),
});
const CHECK_TIMEOUT_MS = 3000;

async function probe(check: () => Promise<void>): Promise<'ok' | 'fail'> {
  return withTimeout(check(), CHECK_TIMEOUT_MS, 'readiness check').then(
    () => 'ok' as const,
    () => 'fail' as const,
  );
}

/** /ready's answer: each dependency checked once, with a deadline (the API's and the worker's). */
export async function readiness(c: Pick<Container, 'checks'>) {
  const [db, queue, storage] = await Promise.all([probe(c.checks.db), probe(c.checks.queue), probe(c.checks.storage)]);
  return { ready: db === 'ok' && queue === 'ok' && storage === 'ok', checks: { db, queue, storage } };
}

export const opsRoutes =
  (c: Container): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/health',
      {
        schema: {
          tags: ['operations'],
          summary: 'Liveness: touches no dependency',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/ready',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: database, queue and storage',
          response: { 200: ReadyAnswer, 503: ReadyAnswer },
        },
      },
      async (_request, reply) => {
        const { ready, checks } = await readiness(c);
        return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
      },
    );

    app.get(
      '/metrics',
      { schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'] } },
      async (_request, reply) => {
        await c.refreshGauges?.();
        return reply.type(c.metrics.registry.contentType).send(await c.metrics.registry.metrics());
      },
    );

    app.get(
      '/openapi.json',
      { schema: { tags: ['operations'], summary: 'The OpenAPI 3 document of this API' } },
      async () => app.swagger(),
    );
  };
