/**
 * A new embedded database starts as a copy of a PGlite cluster the build initialised and
 * migrated once (an in-memory one from its tarball). Creating a cluster (PostgreSQL's
 * initdb, in WebAssembly) grows the WebAssembly heap by about 550 MB, which never shrinks:
 * an embedded API that initialised its own data dir kept that for its whole life; one that
 * starts from the copy stays far lower and starts in a fraction of the time
 * (bench/REPORT.md, embedded memory). The test suite uses it too.
 * The file name carries PGlite's version and a hash of the migrations: a template made
 * by another version or from other migrations is never used (PGlite runs initdb then).
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS_FOLDER } from './migrations-folder.js';

/** PGlite's version, from its package.json (not exported: found next to the resolved entry's dist/). */
function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const dir = entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`));
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update(readFileSync(path.join(MIGRATIONS_FOLDER, file)));
  }
  return hash.digest('hex').slice(0, 12);
}

let cached: string | undefined;
/** Where the build writes the template: dist/ at the repository root; `.tar.gz` beside it for in-memory databases. */
export function pgliteTemplatePath(): string {
  cached ??= fileURLToPath(new URL(`../../../dist/pglite-template-${pgliteVersion()}-${migrationsHash()}`, import.meta.url));
  return cached;
}

/**
 * Copies the template cluster into an empty `dataDir`; false when there is no template.
 * A plain file copy, then PGlite opens an existing cluster: loading the tarball into the
 * data dir instead would grow the WebAssembly heap by some 130 MB for good.
 */
export function seedFromPgliteTemplate(dataDir: string): boolean {
  const template = pgliteTemplatePath();
  if (!existsSync(path.join(template, 'PG_VERSION'))) return false;
  cpSync(template, dataDir, { recursive: true });
  return true;
}

/** The template as the tarball PGlite's `loadDataDir` takes (an in-memory database), or undefined. */
export function pgliteTemplateTarball(): Blob | undefined {
  const file = `${pgliteTemplatePath()}.tar.gz`;
  return existsSync(file) ? new Blob([readFileSync(file)]) : undefined;
}
