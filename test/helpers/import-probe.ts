/**
 * Run as a child process: records every module the app resolves while it builds its container
 * and HTTP app from the environment, then prints the packages it loaded as one JSON line.
 */
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(result.url);
    if (m) loaded.add(m[1]!);
    return result;
  },
});

const { loadConfig } = await import('../../src/config/load.js');
const { createContainer } = await import('../../src/container.js');
const { buildApp } = await import('../../src/http/app.js');
const container = await createContainer(loadConfig(process.env), { loggerOptions: false });
const app = await buildApp(container);
await app.ready();
await app.close();
await container.close();
process.stdout.write(`${JSON.stringify([...loaded].sort())}\n`);
