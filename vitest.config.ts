import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Files whose subject does not change with the Node line: a browser (Chromium) driving the
 * dashboard, the container image's commands (the image ships its own Node 24), and
 * benchmark-sized runs of code other files run on every line (the remove-bg model's
 * quality and its finishing on many scenes, five processes at once, a 500-image batch).
 * CI runs them on Node 24 only: its Node 22 run is `--project core`; `npm test` runs both projects.
 */
export const NODE24_ONLY = [
  'test/browser/**/*.test.ts',
  'test/e2e/container-image.test.ts',
  'test/e2e/multi-process.test.ts',
  'test/e2e/catalogue-batch-workers.test.ts',
  'test/integration/remove-bg-model.test.ts',
  'test/e2e/finishing.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Honest failures: a test that passes only on retry is a bug.
    retry: 0,
    projects: [
      // Start-up, both databases, both queues, processing and the HTTP surface: what CI also runs on Node 22.
      { extends: true, test: { name: 'core', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...NODE24_ONLY] } },
      { extends: true, test: { name: 'node24-only', include: NODE24_ONLY } },
    ],
  },
});
