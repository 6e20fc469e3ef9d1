import { BlockStack } from '@shopify/polaris';
import { useId, useState } from 'react';

const CHECKER =
  'repeating-conic-gradient(#e3e3e3 0% 25%, #ffffff 0% 50%) 50% / 16px 16px';

/**
 * The original and the result on top of each other; a slider (keyboard:
 * arrows, Home, End) moves the line between them. The checkerboard shows
 * transparency.
 */
export function BeforeAfter({ before, after, name, height = 220 }: { before: string; after: string; name: string; height?: number }) {
  const [split, setSplit] = useState(50);
  const id = useId();
  return (
    <BlockStack gap="200">
      <div style={{ position: 'relative', height, background: CHECKER, borderRadius: 8, overflow: 'hidden' }}>
        <img src={before} alt={`${name}, before`} style={{ position: 'absolute', inset: 0, width: '100%', height: '100%', objectFit: 'contain' }} />
        <img
          src={after}
          alt={`${name}, after`}
          style={{ position: 'absolute', inset: 0, width: '100%', height: '100%', objectFit: 'contain', clipPath: `inset(0 0 0 ${split}%)`, background: CHECKER }}
        />
        <div aria-hidden style={{ position: 'absolute', top: 0, bottom: 0, left: `${split}%`, width: 2, background: '#303030' }} />
      </div>
      <label htmlFor={id} style={{ fontSize: 13 }}>
        Compare before and after: {name}
      </label>
      <input id={id} type="range" min={0} max={100} value={split} onChange={(e) => setSplit(Number(e.target.value))} aria-valuetext={`${100 - split}% after`} />
    </BlockStack>
  );
}
