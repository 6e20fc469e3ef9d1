import { type TSchema, Type } from '@sinclair/typebox';

/** Shared route schemas. Bodies are strict objects: unknown keys are a 400. */

export const StrictObject = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

export const ErrorSchema = Type.Object(
  {
    error: Type.Unknown({ description: 'A message for a person (an object for 402)' }),
    code: Type.String({ description: 'UPPER_SNAKE error code' }),
    details: Type.Optional(Type.Array(Type.Unknown())),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Error', description: 'Error answer' },
);

/** A route's answers: its own plus the shared error shape for 4xx/5xx. */
export function responses<T extends Record<number, TSchema>>(ok: T) {
  return { ...ok, '4xx': Type.Ref(ErrorSchema), '5xx': Type.Ref(ErrorSchema) };
}

