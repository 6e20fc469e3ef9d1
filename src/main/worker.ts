import pino from 'pino';
import { createContainer } from '../container.js';
import { configFromEnvironment, onShutdownSignal, orExitOnConfigError } from './bootstrap.js';
import { type OpsServer, startOpsServer } from './ops-server.js';

const config = configFromEnvironment();
if (!config.redisUrl) {
  process.stderr.write('Configuration error: REDIS_URL: required by the worker (embedded mode runs jobs inside the API)\n');
  process.exit(1);
}
const log = pino({ level: config.logLevel, base: { role: 'worker' } });
const container = await createContainer(config, {
  logError: (err, context) => log.error({ err, ...context }, 'job failed'),
});
let ops: OpsServer | null = null;

// SIGTERM (a deploy, a scale-down): take no new job; running ones get WORKER_SHUTDOWN_GRACE_S
// to finish, then are handed back to the queue for another worker; then exit.
onShutdownSignal(async (signal) => {
  log.info({ signal, graceS: config.workerShutdownGraceMs / 1000 }, 'worker shutting down: no new jobs, finishing running ones');
  await container.close();
  await ops?.close();
  log.info('worker stopped');
});

await orExitOnConfigError(container.startBackgroundWork());
if (config.workerPort !== undefined) ops = await startOpsServer(container, { port: config.workerPort, host: config.http.host });
log.info(
  { concurrency: config.workerConcurrency, processor: config.processor.kind, ...(ops ? { opsPort: ops.port } : {}) },
  'worker started',
);
