import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * scripts/start.mjs in a project of its own (a copy of the script, stub entry
 * points and a stub build): it builds only when the build is stale and the
 * compiler is installed, and otherwise runs what dist/ has.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function project(opts: { built: boolean; compiler: boolean }) {
  const root = mkdtempSync(path.join(tmpdir(), 'start-'));
  dirs.push(root);
  mkdirSync(path.join(root, 'scripts'));
  cpSync('scripts/start.mjs', path.join(root, 'scripts/start.mjs'));
  mkdirSync(path.join(root, 'src'));
  writeFileSync(path.join(root, 'src/app.ts'), 'export {};\n');
  // The stub build writes an entry point that records that it ran (with its arguments), and counts builds.
  const builtEntry = "import { appendFileSync } from 'node:fs'; appendFileSync('ran', ['new build', ...process.argv.slice(2)].join(' ') + '\\n');";
  writeFileSync(
    path.join(root, 'build.cjs'),
    `const fs = require('node:fs'); fs.mkdirSync('dist/main', { recursive: true });
     fs.writeFileSync('dist/main/api.js', ${JSON.stringify(builtEntry)}); fs.appendFileSync('builds', 'x');`,
  );
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'p', private: true, type: 'module', scripts: { build: 'node build.cjs' } }));
  if (opts.compiler) {
    mkdirSync(path.join(root, 'node_modules/typescript'), { recursive: true });
    writeFileSync(path.join(root, 'node_modules/typescript/package.json'), '{}');
  }
  if (opts.built) {
    mkdirSync(path.join(root, 'dist/main'), { recursive: true });
    writeFileSync(path.join(root, 'dist/main/api.js'), "import { appendFileSync } from 'node:fs'; appendFileSync('ran', 'old build\\n');\n");
  }
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['scripts/start.mjs', 'api', ...args], { cwd: root, encoding: 'utf8', env: process.env });
  const exists = (p: string) => existsSync(path.join(root, p));
  const read = (p: string) => (exists(p) ? readFileSync(path.join(root, p), 'utf8') : '');
  return { root, run, exists, read };
}

describe('scripts/start.mjs', () => {
  it('without a build and without the compiler (npm ci --omit=dev): says how to build, exit 1', () => {
    const p = project({ built: false, compiler: false });
    const result = p.run();
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/dist\/main\/api\.js is missing and TypeScript is not installed/);
  });

  it('without the compiler, runs the build it has', () => {
    const p = project({ built: true, compiler: false });
    const result = p.run();
    expect(result.status).toBe(0);
    expect(p.read('ran')).toBe('old build\n');
    expect(p.exists('builds')).toBe(false);
  });

  it('with the compiler: builds when stale, then not again until a source changes', () => {
    const p = project({ built: false, compiler: true });
    expect(p.run().status).toBe(0);
    expect(p.read('builds')).toBe('x');
    expect(p.exists('dist/.build-stamp')).toBe(true);

    expect(p.run().status).toBe(0);
    expect(p.read('builds')).toBe('x'); // current: no compiler run

    const later = new Date(Date.now() + 5000);
    utimesSync(path.join(p.root, 'src/app.ts'), later, later);
    expect(p.run().status).toBe(0);
    expect(p.read('builds')).toBe('xx');
  });

  it('runs the api with the lean-memory V8 flags, unless LEAN_MEMORY=false', () => {
    const p = project({ built: false, compiler: true });
    const entry = "import { appendFileSync } from 'node:fs'; appendFileSync('flags', process.execArgv.join(' ') + '|' + process.argv.slice(2).join(' ') + ';');";
    writeFileSync(
      path.join(p.root, 'build.cjs'),
      `const fs = require('node:fs'); fs.mkdirSync('dist/main', { recursive: true }); fs.writeFileSync('dist/main/api.js', ${JSON.stringify(entry)});`,
    );
    const lean = p.run('--x');
    expect(lean.stderr).toBe('');
    expect(lean.status).toBe(0);
    expect(p.read('flags')).toBe('--liftoff-only --max-semi-space-size=8|--x;');
    const optimised = spawnSync(process.execPath, ['scripts/start.mjs', 'api'], {
      cwd: p.root,
      encoding: 'utf8',
      env: { ...process.env, LEAN_MEMORY: 'false' },
    });
    expect(optimised.status).toBe(0);
    expect(p.read('flags')).toBe('--liftoff-only --max-semi-space-size=8|--x;|;');
  });

  it('runs the worker with a small young generation, a slowly growing old one and two malloc arenas, unless the operator set MALLOC_ARENA_MAX', () => {
    const p = project({ built: false, compiler: true });
    const entry =
      "import { appendFileSync } from 'node:fs'; appendFileSync('flags', process.execArgv.join(' ') + '|' + process.env.MALLOC_ARENA_MAX + ';');";
    writeFileSync(
      path.join(p.root, 'build.cjs'),
      `const fs = require('node:fs'); fs.mkdirSync('dist/main', { recursive: true }); fs.writeFileSync('dist/main/api.js', ''); fs.writeFileSync('dist/main/worker.js', ${JSON.stringify(entry)});`,
    );
    const env = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    const worker = (extra: Record<string, string>) =>
      spawnSync(process.execPath, ['scripts/start.mjs', 'worker'], { cwd: p.root, encoding: 'utf8', env: { ...env, ...extra } });
    expect(worker({}).status).toBe(0);
    expect(p.read('flags')).toBe('--max-semi-space-size=8 --heap-growing-percent=50|2;');
    expect(worker({ MALLOC_ARENA_MAX: '4' }).status).toBe(0);
    expect(p.read('flags')).toBe('--max-semi-space-size=8 --heap-growing-percent=50|2;--max-semi-space-size=8 --heap-growing-percent=50|4;');
  });

  it('passes its own arguments on to the entry point', () => {
    const p = project({ built: false, compiler: true });
    expect(p.run('--dry-run').status).toBe(0);
    expect(p.read('ran')).toBe('new build --dry-run\n');
  });
});
