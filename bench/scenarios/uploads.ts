/**
 * (3) Uploads under load: 50 connections for 20 s against POST /upload of the
 * embedded API (PGlite, in-process queue and limiter, local disk), every request
 * a new, valid upload of a realistic small product photo.
 */
import { productShot, uploadForm } from '../../test/helpers/images.js';
import { figure, type Scenario } from '../lib/report.js';
import { load, startApi } from '../lib/servers.js';

const ID = 'uploads';
const CONNECTIONS = 50;
const DURATION_S = 20;

export const scenario: Scenario = {
  id: ID,
  title: 'Uploads under load (embedded)',
  async run() {
    const api = await startApi({
      // Every limit that could refuse an upload is raised: the limiter still runs (and costs what it costs).
      RL_UPLOAD_BURST_LIMIT: '1000000',
      RL_UPLOAD_SUST_LIMIT: '1000000',
      FREE_CREDITS: '1000000',
    });
    try {
      const { cookie } = await api.login();
      const photo = await productShot(800, 600, 'jpeg');
      // No Idempotency-Key: the same body sent again is a new upload, not a replay of the first answer.
      const form = uploadForm(photo, 'downscale', 'product.jpg', 'image/jpeg');
      const check = await fetch(`${api.base}/upload`, { method: 'POST', headers: { ...form.headers, cookie }, body: form.payload });
      if (check.status !== 202) throw new Error(`a single upload answered ${check.status}: ${await check.text()}`);
      const r = await load(`${api.base}/upload`, {
        connections: CONNECTIONS,
        durationS: DURATION_S,
        method: 'POST',
        headers: { ...form.headers, cookie },
        body: form.payload,
      });
      const credits = (await (await fetch(`${api.base}/credits/me`, { headers: { cookie } })).json()) as { credits: number };
      const accepted = 1_000_000 - 1 - credits.credits;
      return {
        figures: [
          figure(ID, 'errors + non-2xx', { value: r.errors + r.non2xx, unit: 'requests', atMost: 0, note: `${r.requests} requests` }),
          figure(ID, 'throughput', { value: r.rps, unit: 'req/s' }),
          figure(ID, 'p50', { value: r.p50, unit: 'ms' }),
          figure(ID, 'p99 ÷ p50', { value: r.p99, unit: 'ms', baseline: r.p50, on: 'ratio', atMost: 10 }),
          figure(ID, 'credits debited per answered upload', {
            value: r.requests ? accepted / r.requests : null,
            unit: 'credits',
            note: 'about 1: each 202 is a distinct image (no replays); slightly above 1 because uploads in flight when autocannon stops are debited but not counted',
          }),
        ],
        notes: [
          `Set-up: the embedded API from the built tree (startApi: PGlite, in-process queue and limiter, local disk), upload rate limits and free credits raised to 1,000,000.`,
          `Method: autocannon, ${CONNECTIONS} connections for ${DURATION_S} s, one fixed multipart body (operation \`downscale\`, an 800x600 JPEG product shot of ${photo.length} bytes from test/helpers/images.ts) with the session cookie and no \`Idempotency-Key\`, so every request is a new image (credits debited = requests answered confirms no replay). The in-process queue processes the downscales during the load, as it would in production.`,
          `p99 ÷ p50 is reported as the ratio of p99 (value) to p50 (baseline).`,
        ].join('\n\n'),
      };
    } finally {
      await api.stop();
    }
  },
};
