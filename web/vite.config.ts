import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Writes .br and .gz beside every text asset, which the API serves as they are (preCompressed). */
function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'precompress',
    apply: 'build',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      const assets = path.join(outDir, 'assets');
      const names = (await readdir(assets)).filter((name) => /\.(js|css|svg|json)$/.test(name));
      // zlib's async calls run on libuv's thread pool: the files compress in parallel.
      await Promise.all(
        names.map(async (name) => {
          const file = path.join(assets, name);
          const data = await readFile(file);
          const [br, gz] = await Promise.all([
            promisify(brotliCompress)(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
            promisify(gzip)(data, { level: 9 }),
          ]);
          await Promise.all([writeFile(`${file}.br`, br), writeFile(`${file}.gz`, gz)]);
        }),
      );
    },
  };
}

// The API is on :8000 in development (`npm run dev`); `npm run dev:web` serves the UI with hot reload.
const API_PATHS = ['/auth', '/me', '/credits', '/images', '/image', '/upload', '/settings', '/fileserve', '/files', '/products', '/batches'];

export default defineConfig({
  root,
  base: '/app/',
  build: {
    // Inside the server's build tree, so dist/ is the whole runnable app (the container image copies it).
    outDir: '../dist/web',
    emptyOutDir: true,
    // The budget that matters is bytes on the wire (gzip), measured by bench/scenarios/dashboard.ts.
    chunkSizeWarningLimit: 800,
    rolldownOptions: {
      onwarn(warning, warn) {
        // react-router's "use client" marks it for React Server Components, which this app does not use.
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  plugins: [precompress()],
  server: {
    proxy: Object.fromEntries(API_PATHS.map((p) => [p, { target: process.env.API_URL ?? 'http://localhost:8000', changeOrigin: false }])),
  },
});
