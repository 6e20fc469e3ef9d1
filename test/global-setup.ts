/**
 * Once per test run, when the tree has not been built: the PGlite template the build makes
 * (src/adapters/db/pglite-template.ts), so that every in-memory and fresh PGlite in the suite
 * loads it instead of running initdb and the migrations (seconds and 550 MB of WebAssembly heap each).
 */
import { existsSync } from 'node:fs';
import { writePgliteTemplate } from '../src/adapters/db/client.js';
import { pgliteTemplatePath } from '../src/adapters/db/pglite-template.js';

export default async function setup(): Promise<void> {
  if (!existsSync(`${pgliteTemplatePath()}.tar.gz`)) await writePgliteTemplate();
}
