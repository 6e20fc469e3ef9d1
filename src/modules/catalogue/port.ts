/**
 * The catalogue port: the merchant's products and their media, from the store
 * (adapters/catalogue/shopify.ts) or from the demo catalogue of local mode
 * (adapters/catalogue/local.ts). Ids are Shopify GIDs in both.
 */

export interface CatalogueMedia {
  id: string;
  productId: string;
  /** Where the image can be fetched (Shopify's CDN, or a signed URL of our storage). */
  url: string;
  alt: string | null;
  width: number | null;
  height: number | null;
  /** Shopify's processing state of the media (UPLOADED, PROCESSING, READY, FAILED). */
  status: string;
}

export interface CatalogueProduct {
  id: string;
  title: string;
  status: string;
  media: CatalogueMedia[];
}

export interface ProductPage {
  products: CatalogueProduct[];
  /** Opaque; null after the last page. */
  nextCursor: string | null;
}

export interface ListQuery {
  /** Shopify's search syntax (`title:shirt`, free words); the demo catalogue matches titles. */
  query?: string;
  collectionId?: string;
  productIds?: string[];
  cursor?: string;
  limit: number;
}

export interface ImageBytes {
  data: Buffer;
  contentType: string;
}

export interface WriteResult extends ImageBytes {
  /** `replace`: the media's file becomes the result (same id, same position); `add`: a new media beside it. */
  mode: 'replace' | 'add';
  /** The alt text the result keeps (the original's). */
  alt: string | null;
  /** Makes the write idempotent: a second write with the same key does not add a second media. */
  key: string;
  /** Called with a new media's id before it is attached to the product (the automation's loop guard). */
  onCreated?: (mediaId: string) => Promise<void>;
  width?: number;
  height?: number;
}

export interface RestoreInput {
  media: { id: string; productId: string };
  /** How the result was applied, and the media that holds it. */
  mode: 'replace' | 'add';
  resultMediaId: string;
  /** The original, byte for byte, and its alt text. */
  original: ImageBytes & { width?: number; height?: number };
  alt: string | null;
}

export interface CataloguePort {
  readonly kind: 'local' | 'shopify';
  listProducts(shop: string, query: ListQuery): Promise<ProductPage>;
  /** The shop's media; null for another shop's or none. */
  getMedia(shop: string, mediaId: string): Promise<CatalogueMedia | null>;
  /**
   * The media's source bytes, fetched by the worker from the adapter's own
   * hosts only (outbound/fetch.ts): OutboundRefusedError for anything else.
   */
  downloadSource(shop: string, media: CatalogueMedia, signal?: AbortSignal): Promise<ImageBytes>;
  /** Writes a result and waits until the store has it READY; answers the media that holds it. */
  writeResult(shop: string, media: CatalogueMedia, result: WriteResult): Promise<CatalogueMedia>;
  /** Puts the original back: byte-identical, same position, alt kept. Answers the media. */
  restore(shop: string, input: RestoreInput): Promise<CatalogueMedia>;
  /** Records which product media belong to (webhook payloads name them); optional. */
  noteMedia?(shop: string, productId: string, mediaIds: string[]): Promise<void>;
  /** Scopes the catalogue needs that the shop did not grant (empty when all are there). */
  missingScopes(shop: string): Promise<string[]>;
}

/** The scopes the catalogue needs in Shopify mode. */
export const CATALOGUE_SCOPES = ['read_products', 'write_products', 'read_files', 'write_files'] as const;

/** Scopes implied by others (Shopify: write_X includes read_X). */
export function missingFrom(granted: string | null, required: readonly string[] = CATALOGUE_SCOPES): string[] {
  const have = new Set((granted ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of [...have]) if (s.startsWith('write_')) have.add(`read_${s.slice(6)}`);
  return required.filter((s) => !have.has(s));
}
