import type { Config } from '../../config/load.js';
import { createLocalProcessor } from './local.js';
import { createMakeIt3DProcessor, type MakeIt3DOptions } from './makeit3d.js';
import type { Processor } from './processor.js';

/**
 * Picks the processor adapter from the config (for src/container.ts):
 * MAKEIT3D_API_KEY set -> MakeIt3D, else the local processor (sharp and the
 * remove-bg model).
 */
export function createProcessor(
  config: Pick<Config, 'processor' | 'maxInputPixels'> & Partial<Pick<Config, 'removeBg'>>,
  hooks: Pick<MakeIt3DOptions, 'onProviderCall'> = {},
): Processor {
  if (config.processor.kind === 'makeit3d') {
    return createMakeIt3DProcessor({
      apiKey: config.processor.apiKey,
      baseUrl: config.processor.baseUrl,
      maxInputPixels: config.maxInputPixels,
      ...hooks,
    });
  }
  return createLocalProcessor({ maxInputPixels: config.maxInputPixels, ...(config.removeBg ? { removeBg: config.removeBg } : {}) });
}
