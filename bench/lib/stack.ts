/**
 * The production shape for scenarios that need it: one API and one worker process
 * (the built tree, via startApi) on a fresh PostgreSQL database and the machine's
 * Redis under this run's own key prefixes, sharing one DATA_DIR (local-disk storage).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPostgresDatabase } from '../../test/helpers/db.js';
import { deleteRedisKeys } from '../../test/helpers/redis-keys.js';
import { REDIS_TEST_URL } from '../../test/helpers/services.js';
import { type Api, startApi } from './servers.js';

export interface Stack {
  api: Api;
  worker: Api;
  /** A small pool on the stack's database, for reading outcomes without going through the API. */
  db: pg.Pool;
  stop(): Promise<void>;
}

/** `env` goes to both processes; `workerEnv` to the worker only (after `env`). */
export async function startStack(env: Record<string, string>, workerEnv: (api: Api) => Record<string, string> = () => ({})): Promise<Stack> {
  const id = randomBytes(4).toString('hex');
  const prefixes = { QUEUE_PREFIX: `bench-${id}`, RL_KEY_PREFIX: `bench-${id}-rl:` };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-stack-'));
  const database = await createPostgresDatabase();
  const shared = {
    DATABASE_URL: database.url,
    REDIS_URL: REDIS_TEST_URL,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ...prefixes,
    ...env,
  };
  const started: Api[] = [];
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop()));
    await db.end();
    await database.drop();
    await deleteRedisKeys(REDIS_TEST_URL, `${prefixes.QUEUE_PREFIX}*`);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // The API first: it runs the migrations the worker expects.
    const api = await startApi(shared, { dataDir });
    started.push(api);
    const worker = await startApi({ ...shared, ...workerEnv(api) }, { dataDir, role: 'worker' });
    started.push(worker);
    return { api, worker, db, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
