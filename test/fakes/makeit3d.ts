import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import sharp, { type Sharp } from 'sharp';

/**
 * A fake MakeIt3D (docs/makeit3d.md, "The fake for tests"): a real
 * HTTP server on a free port. It checks the key, validates bodies, fetches the
 * input itself, makes a real result with sharp (remove-background: alpha
 * channel with the corner colour keyed out; upscale: 2x; downscale: half) and
 * serves it at an asset_url on itself. Per-test controls and counters below.
 */
export type FakeOperation = 'remove-background' | 'upscale' | 'downscale';

export interface FakeTask {
  id: string;
  operation: FakeOperation;
  body: Record<string, unknown>;
  createdAt: number;
  polls: number;
  /** Set by failTask / controls.failWith. */
  failWith: string | null;
  pendingForever: boolean;
  result: Buffer | null;
  inputError: string | null;
}

export interface FakeControls {
  /** Time from creation to complete; pending for the first half, processing for the second. */
  completeAfterMs: number;
  /** Next n submits answer 429 {"error"}. */
  submit429: number;
  /** Next n submits answer `errorStatus` {"error"}. */
  submit5xx: number;
  /** The status of the 5xx answers (default 503). */
  errorStatus: number;
  /** Next n submits create their task but never answer (the connection stays open). */
  submitHang: number;
  /** Next n submits: the connection is destroyed before any answer, no task is created. */
  submitDrop: number;
  /** Next n submits create their task, send 200 headers and break the connection mid-body. */
  submitTruncate: number;
  /** Next n polls answer 429 / `errorStatus`. */
  poll429: number;
  poll5xx: number;
  /** New tasks fail with this error text. */
  failWith: string | null;
  /** New tasks stay pending forever. */
  pendingForever: boolean;
  /** Replaces the asset_url the status answer gives (e.g. another host). */
  assetUrl: ((task: FakeTask, defaultUrl: string) => string) | null;
  /** Served instead of the real result. */
  assetBody: Buffer | null;
  /** Next n asset downloads answer 503. */
  asset5xx: number;
  /** The asset answers 302 to this URL (once per download; the target is served normally). */
  assetRedirectTo: string | null;
  /** Serve the asset without Content-Length (chunked), to test the streaming cap. */
  assetChunked: boolean;
}

export interface FakeStats {
  /** Every POST /generate/* that reached the server (including 429/5xx/dropped ones). */
  submitRequests: number;
  tasksCreated: number;
  /** Tasks created per client task_id (ours: `<operation>-<image id>`). */
  tasksByClientId: Map<string, number>;
  polls: number;
  pollTimes: number[];
  downloads: number;
  inputFetches: number;
  lastSubmitHeaders: http.IncomingHttpHeaders | null;
}

export interface FakeMakeIt3D {
  url: string;
  apiKey: string;
  controls: FakeControls;
  stats: FakeStats;
  tasks: Map<string, FakeTask>;
  /** Makes an existing task fail with this provider error text. */
  failTask(id: string, error: string): void;
  /** Serves bytes at a URL on the fake (the "signed upload URL" for tests). */
  putInput(bytes: Buffer, contentType?: string): string;
  close(): Promise<void>;
}

const OPS: FakeOperation[] = ['remove-background', 'upscale', 'downscale'];

function validate(op: FakeOperation, body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object';
  const b = body as Record<string, unknown>;
  if (typeof b.task_id !== 'string' || b.task_id.length === 0) return 'task_id is required';
  if (typeof b.input_image_asset_url !== 'string' || !/^https?:\/\//.test(b.input_image_asset_url)) {
    return 'input_image_asset_url must be an http(s) URL';
  }
  if (op === 'remove-background') {
    if (b.provider !== 'stability') return 'provider must be "stability"';
    if (b.output_format !== 'png' && b.output_format !== 'webp') return 'output_format must be png or webp';
  }
  if (op === 'upscale') {
    if (b.provider !== 'stability') return 'provider must be "stability"';
    if (b.model !== 'fast' && b.model !== 'crisp') return 'model must be "fast" or "crisp"';
    if (b.output_format !== 'png' && b.output_format !== 'webp') return 'output_format must be png or webp';
  }
  if (op === 'downscale') {
    if (typeof b.max_size_mb !== 'number' || b.max_size_mb < 0.1 || b.max_size_mb > 20) return 'max_size_mb must be 0.1 to 20';
    if (b.aspect_ratio_mode !== 'original' && b.aspect_ratio_mode !== 'square') return 'aspect_ratio_mode must be original or square';
    if (b.output_format !== 'png' && b.output_format !== 'webp' && b.output_format !== 'jpeg') return 'bad output_format';
  }
  return null;
}

async function transform(op: FakeOperation, input: Buffer, format: string): Promise<Buffer> {
  const img = sharp(input, { limitInputPixels: 50_000_000 });
  const meta = await img.metadata();
  const w = meta.width ?? 1;
  const h = meta.height ?? 1;
  let out: Sharp;
  if (op === 'upscale') out = img.resize(w * 2, h * 2);
  else if (op === 'downscale') out = img.resize(Math.max(1, Math.floor(w / 2)), Math.max(1, Math.floor(h / 2)));
  else {
    const { data, info } = await img.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const [r, g, b] = [data[0]!, data[1]!, data[2]!];
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i]! - r) + Math.abs(data[i + 1]! - g) + Math.abs(data[i + 2]! - b) < 40) data[i + 3] = 0;
    }
    out = sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } });
  }
  return format === 'webp' ? out.webp().toBuffer() : format === 'jpeg' ? out.jpeg().toBuffer() : out.png().toBuffer();
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startFakeMakeIt3D(options: { apiKey?: string; completeAfterMs?: number } = {}): Promise<FakeMakeIt3D> {
  const apiKey = options.apiKey ?? 'fake-makeit3d-key';
  const controls: FakeControls = {
    completeAfterMs: options.completeAfterMs ?? 40,
    submit429: 0,
    submit5xx: 0,
    errorStatus: 503,
    submitHang: 0,
    submitDrop: 0,
    submitTruncate: 0,
    poll429: 0,
    poll5xx: 0,
    failWith: null,
    pendingForever: false,
    assetUrl: null,
    assetBody: null,
    assetChunked: false,
    asset5xx: 0,
    assetRedirectTo: null,
  };
  const stats: FakeStats = {
    submitRequests: 0,
    tasksCreated: 0,
    tasksByClientId: new Map(),
    polls: 0,
    pollTimes: [],
    downloads: 0,
    inputFetches: 0,
    lastSubmitHeaders: null,
  };
  const tasks = new Map<string, FakeTask>();
  const inputs = new Map<string, { bytes: Buffer; type: string }>();
  const sockets = new Set<Socket>();
  let url = '';

  function status(task: FakeTask): { status: string; error: string | null; progress: number } {
    const elapsed = Date.now() - task.createdAt;
    if (task.pendingForever || elapsed < controls.completeAfterMs / 2) return { status: 'pending', error: null, progress: 0 };
    if (task.failWith) return { status: 'failed', error: task.failWith, progress: 100 };
    if (task.inputError) return { status: 'failed', error: task.inputError, progress: 100 };
    if (elapsed < controls.completeAfterMs || !task.result) return { status: 'processing', error: null, progress: 50 };
    return { status: 'complete', error: null, progress: 100 };
  }

  function createTask(op: FakeOperation, body: Record<string, unknown>): FakeTask {
    const task: FakeTask = {
      id: randomUUID(),
      operation: op,
      body,
      createdAt: Date.now(),
      polls: 0,
      failWith: controls.failWith,
      pendingForever: controls.pendingForever,
      result: null,
      inputError: null,
    };
    tasks.set(task.id, task);
    stats.tasksCreated++;
    const clientId = String(body.task_id);
    stats.tasksByClientId.set(clientId, (stats.tasksByClientId.get(clientId) ?? 0) + 1);
    // The provider fetches the input itself.
    stats.inputFetches++;
    void (async () => {
      try {
        const res = await fetch(String(body.input_image_asset_url), { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const input = Buffer.from(await res.arrayBuffer());
        task.result = await transform(op, input, String(body.output_format ?? 'png'));
      } catch (err) {
        task.inputError = `could not process the input image: ${(err as Error).message}`;
      }
    })();
    return task;
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const keyOk = req.headers['x-api-key'] === apiKey;

      const submit = /^\/generate\/([a-z-]+)$/.exec(path);
      if (submit && req.method === 'POST') {
        stats.submitRequests++;
        stats.lastSubmitHeaders = req.headers;
        const op = submit[1] as FakeOperation;
        if (!OPS.includes(op)) return json(res, 404, { error: 'Not Found' });
        if (!keyOk) return json(res, 401, { error: 'Invalid API key' });
        if (controls.submitDrop > 0) {
          controls.submitDrop--;
          req.socket.destroy();
          return;
        }
        if (controls.submit429 > 0) {
          controls.submit429--;
          return json(res, 429, { error: 'Rate limit exceeded' });
        }
        if (controls.submit5xx > 0) {
          controls.submit5xx--;
          return json(res, controls.errorStatus, { error: 'Service temporarily unavailable' });
        }
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return json(res, 422, { error: 'body is not JSON' });
        }
        const problem = validate(op, body);
        if (problem) return json(res, 422, { error: problem });
        const task = createTask(op, body as Record<string, unknown>);
        if (controls.submitTruncate > 0) {
          controls.submitTruncate--;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 200 });
          res.write('{"task_id": "');
          setTimeout(() => req.socket.destroy(), 20);
          return;
        }
        if (controls.submitHang > 0) {
          controls.submitHang--;
          return; // the task exists, the answer never comes
        }
        return json(res, 200, { task_id: task.id });
      }

      const poll = /^\/tasks\/([^/]+)\/status$/.exec(path);
      if (poll && req.method === 'GET') {
        stats.polls++;
        stats.pollTimes.push(Date.now());
        if (!keyOk) return json(res, 401, { error: 'Invalid API key' });
        const id = decodeURIComponent(poll[1]!);
        const task = tasks.get(id);
        if (task) task.polls++;
        if (controls.poll429 > 0) {
          controls.poll429--;
          return json(res, 429, { error: 'Rate limit exceeded' });
        }
        if (controls.poll5xx > 0) {
          controls.poll5xx--;
          return json(res, controls.errorStatus, { error: 'Service temporarily unavailable' });
        }
        // An unknown id stays pending forever (as the real provider does).
        if (!task) return json(res, 200, { task_id: id, status: 'pending', asset_url: null, error: null, progress: 0 });
        const s = status(task);
        const defaultUrl = `${url}/assets/${task.id}.${String(task.body.output_format ?? 'png')}`;
        const assetUrl = s.status === 'complete' ? (controls.assetUrl ? controls.assetUrl(task, defaultUrl) : defaultUrl) : null;
        return json(res, 200, { task_id: id, status: s.status, asset_url: assetUrl, error: s.error, progress: s.progress });
      }

      const asset = /^\/assets\/([^/.]+)\.[a-z]+$/.exec(path);
      if (asset && req.method === 'GET') {
        stats.downloads++;
        if (controls.asset5xx > 0) {
          controls.asset5xx--;
          return json(res, controls.errorStatus, { error: 'Service temporarily unavailable' });
        }
        if (controls.assetRedirectTo && !(req.url ?? '').includes('redirected=1')) {
          res.writeHead(302, { location: controls.assetRedirectTo });
          res.end();
          return;
        }
        const task = tasks.get(asset[1]!);
        const bytes = controls.assetBody ?? task?.result;
        if (!bytes) return json(res, 404, { error: 'Not Found' });
        if (controls.assetChunked) {
          res.writeHead(200, { 'content-type': 'image/png' });
          const step = 64 * 1024;
          for (let i = 0; i < bytes.length; i += step) res.write(bytes.subarray(i, i + step));
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
        res.end(bytes);
        return;
      }

      const input = /^\/inputs\/([^/]+)$/.exec(path);
      if (input && req.method === 'GET') {
        const found = inputs.get(input[1]!);
        if (!found) return json(res, 404, { error: 'Not Found' });
        res.writeHead(200, { 'content-type': found.type, 'content-length': found.bytes.length });
        res.end(found.bytes);
        return;
      }
      json(res, 404, { error: 'Not Found' });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    apiKey,
    controls,
    stats,
    tasks,
    failTask(id, error) {
      const task = tasks.get(id);
      if (!task) throw new Error(`no task ${id}`);
      task.failWith = error;
    },
    putInput(bytes, contentType = 'image/png') {
      const id = randomUUID();
      inputs.set(id, { bytes, type: contentType });
      return `${url}/inputs/${id}`;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
