import { config as loadDotenv } from 'dotenv';

/**
 * The container image's HEALTHCHECK, the same for both roles: exits 0 when this
 * container's process answers GET /health, the API on PORT or a worker on
 * WORKER_PORT (the image sets both; only one of them listens in a container).
 */
loadDotenv({ quiet: true });
const ports = [process.env.PORT || '8000', process.env.WORKER_PORT].filter((p): p is string => Boolean(p));

async function healthy(port: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

const results = await Promise.all(ports.map(healthy));
process.exit(results.some(Boolean) ? 0 : 1);
