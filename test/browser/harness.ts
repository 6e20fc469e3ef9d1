/**
 * The browser tests' tools: a build of web/ for the sources as they are, the
 * app listening on a real port, Debian's Chromium driven by playwright-core
 * (never a downloaded browser), axe-core injected into a page, screenshots.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Frame, type Page } from 'playwright-core';
import type { FastifyRequest } from 'fastify';
import { expect } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/net.js';
import { REQUIRE_SERVICES } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of every page; CI keeps this directory. */
export const SCREENSHOT_DIR = path.join(ROOT, 'test-output', 'browser');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

/**
 * A production build of web/ for exactly these sources: cached by a hash of
 * them (and the lock file) so several test files and runs share one, built
 * into a temporary directory and renamed into place, so a concurrent build
 * never leaves a half-written one.
 */
export async function webBuild(): Promise<string> {
  const hash = createHash('sha256');
  const inputs = [
    ...sourceFiles(path.join(ROOT, 'web', 'src')),
    path.join(ROOT, 'web', 'index.html'),
    path.join(ROOT, 'web', 'vite.config.ts'),
    path.join(ROOT, 'package-lock.json'),
  ].sort();
  for (const file of inputs) hash.update(path.relative(ROOT, file)).update(readFileSync(file));
  const cache = path.join(ROOT, 'node_modules', '.cache', 'web-build');
  const out = path.join(cache, hash.digest('hex').slice(0, 16));
  if (existsSync(path.join(out, 'index.html'))) return out;

  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(path.join(cache, 'tmp-'));
  const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [vite, 'build', '--config', 'web/vite.config.ts', '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'], {
      cwd: ROOT,
      // vitest's NODE_ENV=test would make Vite build React's development bundle.
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed (${code}):\n${output}`))));
  });
  try {
    renameSync(tmp, out);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process built the same sources first
  }
  return out;
}

export interface ServedApp extends TestApp {
  /** http://localhost:PORT */
  url: string;
  /** What reached the server: the request, its answer, and whether a cookie or a bearer token came with it. */
  requests: Array<{ method: string; url: string; status: number; cookie: boolean; bearer: boolean }>;
}

/** The real app (jobs in process) on a real port, as the browser sees it: http://localhost:PORT. */
export async function serveApp(env: Record<string, string> = {}): Promise<ServedApp> {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const requests: ServedApp['requests'] = [];
  const t = await createTestApp({
    jobs: true,
    env: { BACKEND_URL: url, WEB_DIST_DIR: await webBuild(), ...env },
    extend: (app) => {
      // Recorded on arrival (an event stream never finishes while open) and completed with the
      // status; a request refused by an earlier hook (429) is recorded when answered.
      const entries = new WeakMap<object, ServedApp['requests'][number]>();
      const record = (request: FastifyRequest) => {
        const entry = {
          method: request.method,
          url: request.url,
          status: 0,
          cookie: request.headers.cookie !== undefined,
          bearer: /^Bearer /.test(request.headers.authorization ?? ''),
        };
        entries.set(request, entry);
        requests.push(entry);
        return entry;
      };
      app.addHook('onRequest', async (request) => void record(request));
      app.addHook('onResponse', async (request, reply) => {
        (entries.get(request) ?? record(request)).status = reply.statusCode;
      });
    },
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  return { ...t, url, requests };
}

/** Without the background-networking flags, Chromium's own connections fail on this closed network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Chromium with a fresh profile that blocks third-party cookies (as browsers
 * do to the admin's iframe), with the flags this closed network needs.
 */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-'));
  mkdirSync(path.join(profile, 'Default'));
  writeFileSync(
    path.join(profile, 'Default', 'Preferences'),
    JSON.stringify({ profile: { block_third_party_cookies: true, cookie_controls_mode: 1 } }),
  );
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The browser suites skip without Chromium, unless REQUIRE_SERVICES=1 (CI installs it). */
export const chromiumAvailable = existsSync(CHROMIUM) && statSync(CHROMIUM).isFile();
if (!chromiumAvailable && REQUIRE_SERVICES) throw new Error(`Chromium is required (REQUIRE_SERVICES=1) but ${CHROMIUM} is missing: apt-get install chromium`);

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core in the page (or frame): no serious or critical violation of WCAG 2 A/AA. */
export async function expectAccessible(target: Page | Frame, what: string): Promise<void> {
  await target.evaluate(AXE);
  const violations = await target.evaluate(async () => {
    // In the page: axe-core's global (this file is typed for Node, without the DOM library).
    const g = globalThis as unknown as {
      document: unknown;
      axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: unknown }> }> }> };
    };
    const result = await g.axe.run(g.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${what}: ${JSON.stringify(bad, null, 2)}`).toEqual([]);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}
