/** Build step: the migrated PGlite cluster that new embedded databases start from (src/adapters/db/pglite-template.ts). */
import { writePgliteTemplate } from '../adapters/db/client.js';

process.stdout.write(`wrote ${await writePgliteTemplate()}\n`);
