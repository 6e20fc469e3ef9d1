import { configFromEnvironment } from './bootstrap.js';

// The BullMQ worker process arrives with the image pipeline (issue 5). Until
// then it refuses to start rather than pretend to process jobs.
const config = configFromEnvironment();
if (!config.redisUrl) {
  process.stderr.write('Configuration error: REDIS_URL: required by the worker (embedded mode runs jobs inside the API)\n');
  process.exit(1);
}
process.stderr.write('The worker is not available in this build yet.\n');
process.exit(1);
