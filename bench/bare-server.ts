import Fastify from 'fastify';

// The baseline: a bare Fastify answering the same JSON as our /health.
const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.stdout.write('listening\n');
