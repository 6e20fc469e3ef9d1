import createClient from 'openapi-fetch';
import { apiFetch, errorOf } from './http';
import type { paths } from './schema';

/** The typed API client: paths and bodies come from the OpenAPI document (schema.d.ts, generated). */
export const api = createClient<paths>({ fetch: apiFetch });

/** The data of a successful answer, else its ApiError. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || error !== undefined) throw await errorOf(response, error);
  return data as T;
}

export type Json<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;
