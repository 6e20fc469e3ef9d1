import { BlockStack, Checkbox, ChoiceList, InlineStack, RangeSlider, Select, Text, TextField } from '@shopify/polaris';
import type { ApplyMode, Finishing, Operation } from '../api/pending';

export const OPERATIONS: Array<{ value: Operation; label: string; helpText: string }> = [
  { value: 'remove-bg', label: 'Remove background', helpText: 'Cut the product out; finish it below.' },
  { value: 'upscale', label: 'Upscale 2×', helpText: 'Twice the width and height, for sharper zoom.' },
  { value: 'downscale', label: 'Downscale', helpText: 'A lighter file that loads faster in your store.' },
];

export const operationLabel = (op: string) => OPERATIONS.find((o) => o.value === op)?.label ?? op;

export function OperationChoice({ value, onChange, title = 'Operation' }: { value: Operation; onChange(op: Operation): void; title?: string }) {
  return <ChoiceList title={title} choices={OPERATIONS} selected={[value]} onChange={([v]) => v && onChange(v as Operation)} />;
}

export const APPLY_MODES: Array<{ value: ApplyMode; label: string; helpText: string }> = [
  { value: 'none', label: 'Review first', helpText: 'Keep the result aside until you apply it.' },
  { value: 'replace', label: 'Replace the image', helpText: 'The result takes the original’s place; restore it any time.' },
  { value: 'add', label: 'Add beside the original', helpText: 'The product gets the result as an extra image.' },
];

export function ApplyChoice({ value, onChange }: { value: ApplyMode; onChange(mode: ApplyMode): void }) {
  return <ChoiceList title="When a result is ready" choices={APPLY_MODES} selected={[value]} onChange={([v]) => v && onChange(v as ApplyMode)} />;
}

const HEX = /^#[0-9a-fA-F]{6}$/;
export const finishingValid = (f: Finishing) =>
  (f.background === 'transparent' || HEX.test(f.background)) && !(f.format === 'jpeg' && f.background === 'transparent');

/** Finishing of remove-bg results (docs/api.md): background, square framing with padding, shadow, format. */
export function FinishingFields({ value, onChange }: { value: Finishing; onChange(f: Finishing): void }) {
  const set = (patch: Partial<Finishing>) => {
    const next = { ...value, ...patch };
    // JPEG has no transparency: keep the pair valid instead of failing the upload.
    if (next.format === 'jpeg' && next.background === 'transparent') next.format = 'png';
    onChange(next);
  };
  const kind = value.background === 'transparent' ? 'transparent' : value.background.toLowerCase() === '#ffffff' ? 'white' : 'colour';
  return (
    <BlockStack gap="300">
      <Text as="h3" variant="headingSm">
        Finishing
      </Text>
      <InlineStack gap="400" wrap blockAlign="end">
        <Select
          label="Background"
          options={[
            { label: 'Transparent', value: 'transparent' },
            { label: 'White', value: 'white' },
            { label: 'Brand colour', value: 'colour' },
          ]}
          value={kind}
          onChange={(k) => set({ background: k === 'transparent' ? 'transparent' : k === 'white' ? '#ffffff' : '#f4f1ea' })}
        />
        {kind === 'colour' && (
          <TextField
            label="Colour (#RRGGBB)"
            autoComplete="off"
            value={value.background}
            onChange={(background) => set({ background })}
            error={HEX.test(value.background) ? undefined : 'Use six hex digits, like #1f6feb'}
            prefix={<span aria-hidden style={{ display: 'inline-block', width: 16, height: 16, borderRadius: 4, background: HEX.test(value.background) ? value.background : 'transparent', border: '1px solid #8a8a8a' }} />}
          />
        )}
        <Select
          label="Framing"
          options={[
            { label: 'Keep the photo’s shape', value: 'none' },
            { label: 'Square, product centred', value: 'square' },
          ]}
          value={value.framing}
          onChange={(framing) => set({ framing: framing as Finishing['framing'] })}
        />
        <Select
          label="File format"
          options={[
            { label: 'PNG', value: 'png' },
            { label: 'JPEG (opaque backgrounds only)', value: 'jpeg', disabled: value.background === 'transparent' },
            { label: 'WebP', value: 'webp' },
          ]}
          value={value.format}
          onChange={(format) => set({ format: format as Finishing['format'] })}
        />
      </InlineStack>
      {value.framing === 'square' && (
        <RangeSlider
          label="Padding around the product"
          min={0}
          max={40}
          value={value.padding}
          output
          suffix={<Text as="span">{value.padding}%</Text>}
          onChange={(padding) => set({ padding: Array.isArray(padding) ? padding[0]! : padding })}
        />
      )}
      <Checkbox label="Soft shadow under the product" checked={value.shadow === 'soft'} onChange={(on) => set({ shadow: on ? 'soft' : 'none' })} />
    </BlockStack>
  );
}
