import type { Config } from '../../config/load.js';
import { createLocalProcessor } from './local.js';
import type { Processor } from './processor.js';

export interface ProcessorHooks {
  onProviderCall?: (operation: string, call: string, seconds: number) => void;
}

export function createProcessor(config: Config, _hooks: ProcessorHooks = {}): Processor {
  if (config.processor.kind === 'makeit3d') throw new Error('MakeIt3D arrives with the processor branch');
  return createLocalProcessor({ maxInputPixels: config.maxInputPixels });
}
