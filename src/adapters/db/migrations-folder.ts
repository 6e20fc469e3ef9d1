import { fileURLToPath } from 'node:url';

/** drizzle/ at the repository root (from src/ and from dist/ alike): one migration set for both databases. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url));
