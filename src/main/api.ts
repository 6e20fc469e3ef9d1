import { createContainer } from '../container.js';
import { buildApp } from '../http/app.js';
import { configFromEnvironment, onShutdownSignal, orExitOnConfigError } from './bootstrap.js';

const config = configFromEnvironment();
const background: { log?: (err: unknown, context: Record<string, unknown>) => void } = {};
const container = await createContainer(config, { logError: (err, context) => background.log?.(err, context) });
const app = await buildApp(container);
background.log = (err, context) => app.log.error({ err, ...context }, 'background work failed');

// Embedded mode runs the jobs in this process; with Redis, `npm run worker` does.
if (!config.redisUrl) await orExitOnConfigError(container.startBackgroundWork());

onShutdownSignal(async (signal) => {
  app.log.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
  await app.close();
  await container.close();
});

await app.listen({ port: config.http.port, host: config.http.host });
app.log.info(
  {
    database: config.database.kind,
    queue: config.redisUrl ? 'bullmq' : 'embedded',
    storage: config.storage.kind,
    processor: config.processor.kind,
    shopify: config.shopify.mode,
    sandbox: config.credits.sandbox,
  },
  `ready on ${config.http.backendUrl}: open the dashboard at ${config.http.backendUrl}/app (API docs at /docs)`,
);
