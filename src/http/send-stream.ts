import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

/**
 * Sends a stored file's stream and makes the reply its owner: a stream that
 * is never read holds its file handle (or socket) until garbage collection
 * (Node's DEP0137), so it is destroyed when the reply is already gone, or
 * when the response closes before the stream ended (a client gone mid-file).
 */
export function sendStream(reply: FastifyReply, body: Readable): FastifyReply {
  if (reply.sent || reply.raw.destroyed) {
    body.destroy();
    return reply;
  }
  reply.raw.once('close', () => body.destroy());
  return reply.send(body);
}
