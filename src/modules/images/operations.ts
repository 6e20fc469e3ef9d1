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

/**
 * The operation of an upload: the one named, or, when the legacy dashboard
 * names none, the shop's settings decide (remove-bg, then downscale); null
 * when neither gives one.
 */
export function chooseOperation(
  named: string | undefined,
  settings: { backgroundRemoval: boolean; optimizeImages: boolean },
): Operation | null {
  if (named !== undefined && named !== '') return normalizeOperation(named);
  if (settings.backgroundRemoval) return 'remove-bg';
  if (settings.optimizeImages) return 'downscale';
  return null;
}
