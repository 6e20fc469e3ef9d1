import { requestJson } from './http';
import type { components, paths } from './schema';

/**
 * The API's shapes the pages share, taken from the generated schema.d.ts (the
 * routes' schemas), and the catalogue calls.
 */

type Settings = paths['/settings']['get']['responses'][200]['content']['application/json'];

export type Operation = 'remove-bg' | 'upscale' | 'downscale';
export type ApplyMode = Settings['auto_process']['apply'];
export type Finishing = Settings['finishing'];

export const DEFAULT_FINISHING: Finishing = { background: 'transparent', framing: 'none', padding: 8, shadow: 'none', format: 'png' };

export type AutoProcess = Omit<Settings['auto_process'], 'paused_reason' | 'paused_at' | 'operation' | 'options'> & {
  operation: Operation;
  options: Partial<Finishing>;
};

/** The catalogue's shapes, generated from the routes' schemas (schema.d.ts). */
export type Media = components['schemas']['ProductMedia'];
export type MediaState = Media['state'];
export type Product = components['schemas']['Product'];
type HistoryAnswer = paths['/products/media/{media_id}/history']['get']['responses'][200]['content']['application/json'];
export type HistoryEntry = HistoryAnswer['history'][number];

export type BatchScope = { product_ids: string[] } | { collection_id: string } | { all: true };

export type BatchCounts = components['schemas']['Batch']['counts'];

export type Batch = Omit<components['schemas']['Batch'], 'scope'> & { scope: BatchScope };

const enc = encodeURIComponent;

export const catalogue = {
  products: (q: { query?: string; collection_id?: string; cursor?: string; limit?: number }) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
    return requestJson<{ products: Product[]; next_cursor: string | null }>('GET', `/products?${params}`);
  },
  process: (body: { media_ids: string[]; operation: Operation; options?: Partial<Finishing>; apply: ApplyMode }) =>
    requestJson<{ images: Array<{ id: string; media_id: string; status: string }>; remaining_credits: number }>(
      'POST',
      '/products/media/process',
      body,
    ),
  apply: (mediaId: string, body: { image_id: string; mode: 'replace' | 'add' }) =>
    requestJson<{ media: Media }>('POST', `/products/media/${enc(mediaId)}/apply`, body),
  restore: (mediaId: string) => requestJson<{ media: Media }>('POST', `/products/media/${enc(mediaId)}/restore`, {}),
  history: (mediaId: string) => requestJson<{ history: HistoryEntry[] }>('GET', `/products/media/${enc(mediaId)}/history`),
  batches: () => requestJson<{ batches: Batch[]; next_cursor?: string | null }>('GET', '/batches'),
  startBatch: (body: { scope: BatchScope; operation: Operation; options?: Partial<Finishing>; apply: ApplyMode }) =>
    requestJson<{ batch: Batch }>('POST', '/batches', body),
  cancelBatch: (id: string) => requestJson<{ batch: Batch }>('POST', `/batches/${enc(id)}/cancel`, {}),
};
