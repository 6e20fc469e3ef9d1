import type { Operation } from '../../adapters/processor/processor.js';

export type { Operation };

const ALIASES: Record<string, Operation> = {
  'remove-bg': 'remove-bg',
  'remove-background': 'remove-bg',
  remove_bg: 'remove-bg',
  upscale: 'upscale',
  downscale: 'downscale',
};

/** compat operation names (with the legacy aliases) to our three operations; null when unknown. */
export function normalizeOperation(value: unknown): Operation | null {
  return typeof value === 'string' && Object.hasOwn(ALIASES, value) ? ALIASES[value]! : null;
}
