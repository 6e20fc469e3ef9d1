/**
 * Run as a child process with --expose-gc: serves a stored file of the local
 * storage adapter through sendStream in the ways a download can end (read to
 * the end, HEAD, the client gone mid-file, the reply already answered), then
 * collects garbage and prints, as one JSON line, the file handles Node had to
 * close on garbage collection (DEP0137) and the file descriptors left open.
 */
import { readdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { createLocalStorage } from '../../src/adapters/storage/local.js';
import { sendStream } from '../../src/http/send-stream.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const closedOnGc: string[] = [];
process.on('warning', (w) => {
  if (/garbage collection/.test(w.message)) closedOnGc.push(w.message);
});

const root = mkdtempSync(path.join(tmpdir(), 'file-handles-'));
const storage = createLocalStorage({ root, publicBaseUrl: 'http://127.0.0.1', signingSecret: 'x'.repeat(32) });
const key = 'probe.myshopify.com/upload/big.png';
await storage.put(key, Buffer.alloc(8 * 1024 * 1024, 7), 'image/png');

const app = Fastify();
app.get('/file', async (_request, reply) => sendStream(reply, (await storage.get(key)).body));
// A handler whose reply was answered meanwhile (a timeout, an error path) still hands its stream over.
app.get('/answered', async (_request, reply) => {
  void reply.code(503).send({ code: 'BUSY' });
  return sendStream(reply, (await storage.get(key)).body);
});
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
const openFds = () => readdirSync('/proc/self/fd').length;

const goneMidFile = () =>
  new Promise<void>((resolve) => {
    const req = http.get(`${base}/file`, (res) => res.once('data', () => req.destroy()));
    req.once('close', resolve);
  });

const before = openFds();
for (let i = 0; i < 5; i++) {
  await (await fetch(`${base}/file`)).arrayBuffer();
  await fetch(`${base}/file`, { method: 'HEAD' });
  await goneMidFile();
  await (await fetch(`${base}/answered`)).arrayBuffer();
}
await app.close();
// Closing is asynchronous: wait until the descriptors are back or the garbage collector had its say.
for (let round = 0; round < 20 && openFds() > before; round++) {
  gc();
  await new Promise((r) => setTimeout(r, 50));
}
gc();
await new Promise((r) => setTimeout(r, 100));
rmSync(root, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ closedOnGc: closedOnGc.length, leftOpen: openFds() - before })}\n`);
