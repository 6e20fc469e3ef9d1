import { type TSchema, Type } from '@sinclair/typebox';

/** Shared route schemas. Bodies are strict objects: unknown keys are a 400. */

export const StrictObject = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

export const ErrorSchema = Type.Object(
  {
    error: Type.Unknown({ description: 'A message for a person (an object for 402)' }),
    code: Type.String({ description: 'UPPER_SNAKE error code' }),
    details: Type.Optional(Type.Array(Type.Unknown())),
    scopes: Type.Optional(Type.Array(Type.String(), { description: 'MISSING_SCOPES: the scopes the shop has to grant' })),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Error', description: 'Error answer' },
);

/** A route's answers: its own plus the shared error shape for 4xx/5xx. */
export function responses<T extends Record<number, TSchema>>(ok: T) {
  return { ...ok, '4xx': Type.Ref(ErrorSchema), '5xx': Type.Ref(ErrorSchema) };
}


/** Finishing options of a remove-bg result (JSON bodies); src/modules/images/finishing.ts checks the rest. */
export const FinishingOptionsSchema = Type.Object(
  {
    background: Type.Optional(
      Type.String({ pattern: '^(transparent|#[0-9a-fA-F]{6})$', description: '`transparent` (default) or `#RRGGBB`' }),
    ),
    framing: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('square')], { description: 'default none' })),
    padding: Type.Optional(Type.Number({ minimum: 0, maximum: 40, description: 'percent of the canvas side, with square (default 8)' })),
    shadow: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('soft')], { description: 'default none' })),
    format: Type.Optional(
      Type.Union([Type.Literal('png'), Type.Literal('jpeg'), Type.Literal('webp')], {
        description: 'default png; jpeg only with an opaque background',
      }),
    ),
  },
  { $id: 'FinishingOptions', additionalProperties: false, description: 'Finishing of remove-bg results' },
);
