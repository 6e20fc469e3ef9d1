import { requestJson } from './http';

/**
 * Shapes from docs/api.md of endpoints and fields that other branches add
 * (finishing options, the catalogue, batches, automation) and that the
 * generated schema.d.ts does not have yet. Written by hand from the contract:
 * when they land, `npm run gen:api` brings their real types and these
 * declarations should give way to them.
 */

export type Operation = 'remove-bg' | 'upscale' | 'downscale';
export type ApplyMode = 'replace' | 'add' | 'none';

export interface Finishing {
  background: string;
  framing: 'none' | 'square';
  padding: number;
  shadow: 'none' | 'soft';
  format: 'png' | 'jpeg' | 'webp';
}

export const DEFAULT_FINISHING: Finishing = { background: 'transparent', framing: 'none', padding: 8, shadow: 'none', format: 'png' };

export interface AutoProcess {
  enabled: boolean;
  operation: Operation;
  options: Partial<Finishing>;
  apply: ApplyMode;
  daily_cap: number;
}

export type MediaState = 'original' | 'queued' | 'processing' | 'processed' | 'applied' | 'restored' | 'failed';

export interface Media {
  id: string;
  url: string;
  alt: string | null;
  width: number | null;
  height: number | null;
  state: MediaState;
  image_id: string | null;
}

export interface Product {
  id: string;
  title: string;
  status: string;
  media: Media[];
}

export interface HistoryEntry {
  image_id: string;
  operation: string;
  state: MediaState;
  created_at: string;
  applied_at: string | null;
  restored_at: string | null;
}

export type BatchScope = { product_ids: string[] } | { collection_id: string } | { all: true };

export interface BatchCounts {
  total: number;
  queued: number;
  processing: number;
  processed: number;
  applied: number;
  failed: number;
  refunded: number;
}

export interface Batch {
  id: string;
  status: 'running' | 'paused' | 'cancelled' | 'done';
  scope: BatchScope;
  operation: Operation;
  apply: ApplyMode;
  counts: BatchCounts;
  stop_reason: string | null;
  created_at: string;
  updated_at: string;
}

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
