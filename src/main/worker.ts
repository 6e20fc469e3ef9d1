import pino from 'pino';
import { createContainer } from '../container.js';
import { configFromEnvironment, onShutdownSignal } from './bootstrap.js';

const config = configFromEnvironment();
if (!config.redisUrl) {
  process.stderr.write('Configuration error: REDIS_URL: required by the worker (embedded mode runs jobs inside the API)\n');
  process.exit(1);
}
const log = pino({ level: config.logLevel, base: { role: 'worker' } });
const container = await createContainer(config, {
  logError: (err, context) => log.error({ err, ...context }, 'job failed'),
});
await container.startBackgroundWork();
log.info({ concurrency: config.workerConcurrency, processor: config.processor.kind }, 'worker started');

onShutdownSignal(async (signal) => {
  log.info({ signal }, 'worker shutting down: jobs in progress are interrupted and resumed later');
  await container.close();
});
