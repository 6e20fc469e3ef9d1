import { createContainer } from '../container.js';
import { buildApp } from '../http/app.js';
import { configFromEnvironment, onShutdownSignal } from './bootstrap.js';

const config = configFromEnvironment();
const container = await createContainer(config);
const app = await buildApp(container);

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
  `ready on ${config.http.backendUrl} (docs at /docs${config.shopify.mode === 'local' ? ', sign in with /auth/dev-login?shop=demo.myshopify.com' : ''})`,
);
