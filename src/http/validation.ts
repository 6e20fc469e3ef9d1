import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/**
 * Bodies are validated without coercion and without dropping unknown keys
 * (a `"true"` string is not a boolean, an extra key is a 400). Query strings,
 * params and headers arrive as strings, so those are coerced.
 */
export function registerValidation(app: FastifyInstance): void {
  const base: Options = { allErrors: false, useDefaults: true, removeAdditional: false, strict: false };
  const body = new Ajv({ ...base, coerceTypes: false });
  const other = new Ajv({ ...base, coerceTypes: true });
  for (const ajv of [body, other]) addFormats.default(ajv, ['uuid', 'date-time', 'uri']);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : other).compile(schema));
}
