import type { FastifyRequest } from 'fastify';
import { InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../lib/errors.js';

/** Multipart overhead (boundaries, part headers, text fields) allowed above a file limit. */
const MULTIPART_OVERHEAD = 64 * 1024;

/**
 * An onRequest hook: a declared Content-Length over the file limit is a 413
 * before any of the body is read (a streamed body is capped while reading).
 */
export function refuseBodiesOver(fileLimitBytes: number, message: string) {
  return refuseContentLengthOver(fileLimitBytes + MULTIPART_OVERHEAD, message);
}

/** An onRequest hook: a declared Content-Length over `limitBytes` is a 413 before any of the body is read. */
export function refuseContentLengthOver(limitBytes: number, message: string) {
  return async (request: FastifyRequest): Promise<void> => {
    if (Number(request.headers['content-length']) > limitBytes) throw new PayloadTooLargeError(message);
  };
}

/**
 * Reads a multipart form with exactly one file, in the part named `file`, and
 * its text fields. The file is capped while streaming by the multipart limits
 * of the route's plugin (413 past them); anything malformed is a 400.
 */
export async function readSingleFile(
  request: FastifyRequest,
): Promise<{ file: { filename: string; data: Buffer }; fields: Record<string, string> }> {
  if (!request.isMultipart()) throw new UnsupportedMediaTypeError('Expected multipart/form-data');
  let file: { filename: string; data: Buffer } | undefined;
  const fields: Record<string, string> = {};
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file' || file) {
          part.file.resume();
          throw new InvalidInputError('Send exactly one file, in the part named "file"', 'INVALID_UPLOAD');
        }
        file = { filename: part.filename, data: await part.toBuffer() };
      } else if (typeof part.value === 'string') {
        fields[part.fieldname] = part.value;
      }
    }
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (err instanceof InvalidInputError || (status && status >= 400 && status < 500)) throw err;
    throw new InvalidInputError('Malformed multipart body', 'INVALID_MULTIPART');
  }
  if (!file) throw new InvalidInputError('Missing the "file" part', 'INVALID_UPLOAD');
  return { file, fields };
}
