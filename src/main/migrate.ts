import { openDatabase } from '../adapters/db/client.js';
import { configFromEnvironment } from './bootstrap.js';

const config = configFromEnvironment();
const database = await openDatabase(config.database);
try {
  await database.migrate();
  process.stdout.write(`Migrations applied (${database.kind}).\n`);
} finally {
  await database.close();
}
