import { createContainer } from '../container.js';
import { buildApp } from '../http/app.js';
import { configFromEnvironment, onShutdownSignal, orExitOnConfigError } from './bootstrap.js';

const config = configFromEnvironment();
const background: { log?: (err: unknown, context: Record<string, unknown>) => void } = {};
// Until the app's logger exists (background work starts before it), errors go to stderr.
const container = await createContainer(config, {
  logError: (err, context) =>
    background.log ? background.log(err, context) : process.stderr.write(`background work failed: ${String(err)} ${JSON.stringify(context)}\n`),
});
// Embedded mode runs the jobs in this process; with Redis, `npm run worker` does. The model loads
// in its worker thread while the routes compile here; a bad REMOVE_BG_MODEL still ends the start
// before the port opens.
const jobs = config.redisUrl ? null : orExitOnConfigError(container.startBackgroundWork());
const app = await buildApp(container);
background.log = (err, context) => app.log.error({ err, ...context }, 'background work failed');
await app.ready();
await jobs;

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
