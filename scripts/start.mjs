// Runs one role of the app from the built tree (dist/): `node scripts/start.mjs api|worker|migrate|reencrypt-tokens`.
// Builds first only when the build is missing or older than its sources AND the compiler is
// installed, so `npm ci && npm start` works on a fresh clone, a current build starts without
// paying for tsc (about 15 s even when nothing changed), and a tree installed with
// `npm ci --omit=dev` runs what it was given. Plain JavaScript: it must run before any build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROLES = {
  api: 'dist/main/api.js',
  worker: 'dist/main/worker.js',
  migrate: 'dist/main/migrate.js',
  'reencrypt-tokens': 'dist/main/reencrypt-tokens.js',
};
/** What the build reads: a change to any of these makes the build stale. */
const BUILD_INPUTS = ['src', 'web', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
const STAMP = 'dist/.build-stamp';
/**
 * V8 flags for the roles that may open the embedded database (PGlite, a 9 MB WebAssembly
 * PostgreSQL). With only the baseline WebAssembly compiler, V8 never runs its optimising
 * compiler on PostgreSQL's huge functions (that alone peaks near 700 MB of RSS and keeps
 * ~300 MB); a smaller young generation keeps the idle heap small. Measured on 2 cores
 * (bench/REPORT.md): idle RSS about 480 -> 200 MB, PGlite queries about 2x slower
 * (0.2 -> 0.45 ms). No other WebAssembly of note runs in the app. LEAN_MEMORY=false keeps V8's defaults.
 */
const LEAN_FLAGS = ['--liftoff-only', '--max-semi-space-size=8'];
/**
 * The worker opens no embedded database, but a batch allocates fast enough that V8 grows its young
 * generation to its maximum (128 MiB of new space on a large machine) and keeps it: that was the
 * worker's RSS growth over a catalogue batch with a flat heap in use (bench/scenarios/catalogue.ts).
 * The old generation likewise grew to ~4x its live size between full collections; growing it by 1.5x
 * bounds it. Measured over 2,000 images: RSS growth +190 -> +60 MiB, end 438 -> 240 MiB, no slower.
 */
const WORKER_LEAN_FLAGS = ['--max-semi-space-size=8', '--heap-growing-percent=50'];
const LEAN_ROLES = { api: LEAN_FLAGS, migrate: LEAN_FLAGS, worker: WORKER_LEAN_FLAGS };
/**
 * glibc's allocator for the roles that run images (sharp/libvips on the libuv threads): by default
 * each thread may get its own malloc arena (up to 8 per core) that grows and never shrinks. Two
 * arenas bound that part: over a 2,000-image batch they alone took the worker's RSS growth from
 * +193 to +142 MiB; the rest was V8's (the flags above). An operator's own MALLOC_ARENA_MAX wins;
 * other allocators (musl) ignore it.
 */
const ALLOCATOR_ENV = { MALLOC_ARENA_MAX: '2' };
const ALLOCATOR_ROLES = new Set(['api', 'worker']);
const SKIP_DIRS = new Set(['node_modules', 'dist']);

/** Newest modification time (ms) under a file or folder; 0 when absent. */
function newestMtime(p) {
  let info;
  try {
    info = statSync(p);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs; // a deleted file changes its folder's time
  for (const entry of readdirSync(p, { withFileTypes: true })) {
    if (entry.isDirectory() && SKIP_DIRS.has(entry.name)) continue;
    newest = Math.max(newest, newestMtime(path.join(p, entry.name)));
  }
  return newest;
}

/** True when the build is missing or a build input changed after the last build started. */
export function buildIsStale() {
  const stamp = newestMtime(path.join(root, STAMP));
  if (!stamp || !existsSync(path.join(root, ROLES.api))) return true;
  return BUILD_INPUTS.some((input) => newestMtime(path.join(root, input)) > stamp);
}

/** Builds when stale and the compiler is installed; returns false when a build was needed but impossible. */
export function buildIfNeeded() {
  if (!buildIsStale()) return true;
  if (!existsSync(path.join(root, 'node_modules/typescript/package.json'))) return false;
  const started = new Date();
  const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  // Stamped with the start time: a source saved during the build makes the next start build again.
  writeFileSync(path.join(root, STAMP), '');
  utimesSync(path.join(root, STAMP), started, started);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const role = process.argv[2];
  if (role === '--build-only') {
    if (!buildIfNeeded()) {
      process.stderr.write('The build is stale and TypeScript is not installed (npm ci without --omit=dev).\n');
      process.exit(1);
    }
    process.exit(0);
  }
  const entry = ROLES[role];
  if (!entry) {
    process.stderr.write(`usage: node scripts/start.mjs ${Object.keys(ROLES).join('|')}\n`);
    process.exit(2);
  }
  const roleFlags = LEAN_ROLES[role] ?? [];
  const leanFlags = process.env.LEAN_MEMORY !== 'false' && !roleFlags.every((f) => process.execArgv.includes(f)) ? roleFlags : [];
  const allocatorEnv = ALLOCATOR_ROLES.has(role) && process.env.MALLOC_ARENA_MAX === undefined ? ALLOCATOR_ENV : {};
  // Node >= 22.15 has execve; on older ones the app runs unchanged
  if ((leanFlags.length || Object.keys(allocatorEnv).length) && typeof process.execve === 'function') {
    // Replaces this process (same pid, signals and exit code): no parent left to forward them.
    // glibc reads MALLOC_ARENA_MAX at start-up, hence a new image rather than setting it here.
    process.execve(process.execPath, [process.execPath, ...leanFlags, ...process.execArgv, ...process.argv.slice(1)], {
      ...process.env,
      ...allocatorEnv,
    });
  }
  if (!buildIfNeeded()) {
    if (!existsSync(path.join(root, entry))) {
      process.stderr.write(
        `${entry} is missing and TypeScript is not installed: build with \`npm ci && npm run build\` ` +
          '(or use the container image), then install production dependencies with `npm ci --omit=dev`.\n',
      );
      process.exit(1);
    }
    // A shipped tree (the container image) has no src/: nothing to warn about.
    if (existsSync(path.join(root, 'src'))) {
      process.stderr.write('dist/ may be older than src/ and TypeScript is not installed: running the existing build.\n');
    }
  }
  process.argv.splice(2, 1); // the entry point sees its own arguments
  await import(pathToFileURL(path.join(root, entry)).href);
}
