import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/lib/errors.js';
import { DEFAULT_FINISHING, isPlainFinishing, resolveFinishing, resultFormat } from '../../src/modules/images/finishing.js';

const refused = (given: Record<string, unknown>) => {
  try {
    resolveFinishing(given);
  } catch (err) {
    return err instanceof DomainError && err.kind === 'invalid' && err.code === 'INVALID_FINISHING';
  }
  return false;
};

describe('finishing options', () => {
  it('defaults to a plain transparent PNG cut-out', () => {
    expect(resolveFinishing({})).toEqual(DEFAULT_FINISHING);
    expect(isPlainFinishing(resolveFinishing({}))).toBe(true);
  });

  it('takes JSON values and multipart strings, over the shop defaults', () => {
    const shopDefaults = resolveFinishing({ background: '#FFFFFF', framing: 'square', padding: 10 });
    expect(shopDefaults).toEqual({ background: '#ffffff', framing: 'square', padding: 10, shadow: 'none', format: 'png' });
    expect(resolveFinishing({ shadow: 'soft', padding: '12.5', format: 'jpeg' }, shopDefaults)).toEqual({
      background: '#ffffff',
      framing: 'square',
      padding: 12.5,
      shadow: 'soft',
      format: 'jpeg',
    });
    expect(isPlainFinishing(shopDefaults)).toBe(false);
  });

  it.each([
    { background: 'white' },
    { background: '#fff' },
    { background: '#12345g' },
    { background: 12 },
    { framing: 'circle' },
    { padding: -1 },
    { padding: 41 },
    { padding: '8%' },
    { padding: '' },
    { padding: Number.NaN },
    { shadow: 'hard' },
    { format: 'gif' },
    { format: 'jpeg' },
    { colour: '#ffffff' },
  ])('refuses %o with 400 INVALID_FINISHING', (given) => {
    expect(refused(given)).toBe(true);
  });

  it('names the file type of each format', () => {
    expect(resultFormat({ format: 'png' })).toEqual({ ext: 'png', contentType: 'image/png' });
    expect(resultFormat({ format: 'jpeg' })).toEqual({ ext: 'jpg', contentType: 'image/jpeg' });
    expect(resultFormat({ format: 'webp' })).toEqual({ ext: 'webp', contentType: 'image/webp' });
  });
});
