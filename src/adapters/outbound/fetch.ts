import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The one way this app fetches a URL that came from elsewhere (a provider's
 * result, a catalogue's source image). Every hop is checked twice: its URL by
 * the caller's rule (scheme, host), and the address it connects to (after DNS,
 * at connect time, so a rebinding name cannot slip through) must be a public
 * unicast address unless its origin is one the operator configured
 * (`trustedOrigins`, e.g. the provider's base URL or a fake in tests).
 * Redirects are followed by hand, each hop re-checked.
 */

export interface OutboundFetchOptions {
  /** Throws OutboundRefusedError for a URL the caller does not accept (each hop, redirects included). */
  checkUrl: (url: URL) => void;
  /** Origins (`http://127.0.0.1:4010`) exempt from the address check: configured by the operator. */
  trustedOrigins?: readonly string[];
  maxBytes: number;
  timeoutMs: number;
  maxRedirects?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL of the last hop. */
  url: URL;
}

/** A URL, an address or a size this app will not fetch: permanent, never retried. */
export class OutboundRefusedError extends Error {
  override name = 'OutboundRefusedError';
}

/** The body was larger than `maxBytes` (declared or counted). */
export class OutboundTooLargeError extends OutboundRefusedError {
  override name = 'OutboundTooLargeError';
}

/** True for an address a server may reach on the public internet (not loopback, private, link-local, ...). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

/** A DNS lookup that only answers public addresses: used by every outbound connection. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused || addresses.length === 0) {
      return callback(new OutboundRefusedError(`${hostname} resolves to a non-public address`), '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

function checkAddressRule(url: URL, trusted: ReadonlySet<string>): LookupFunction | undefined {
  if (trusted.has(url.origin)) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) {
    if (!isPublicAddress(host)) throw new OutboundRefusedError(`${url.hostname} is not a public address`);
    return undefined;
  }
  return publicOnlyLookup;
}

function requestOnce(url: URL, lookup: LookupFunction | undefined, opts: OutboundFetchOptions, signal: AbortSignal) {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, {
      method: 'GET',
      headers: { accept: 'image/*', ...opts.headers },
      signal,
      ...(lookup ? { lookup } : {}),
      // Node's automatic family selection would call lookup with all: true; ours answers both forms.
      agent: false,
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

async function readCapped(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new OutboundTooLargeError(`body too large (${declared} bytes, limit ${maxBytes})`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      res.destroy();
      throw new OutboundTooLargeError(`body too large (over ${maxBytes} bytes)`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/**
 * GET `url` with every hop checked; the body is read only for a 2xx (capped at
 * `maxBytes`), other answers come back with an empty body. Network errors and
 * the timeout are thrown as they are (the caller decides whether to retry);
 * refusals are OutboundRefusedError.
 */
export async function outboundFetch(input: string | URL, opts: OutboundFetchOptions): Promise<OutboundResponse> {
  const trusted = new Set(opts.trustedOrigins ?? []);
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const maxRedirects = opts.maxRedirects ?? 3;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new OutboundRefusedError('not a URL');
  }
  for (let hops = 0; ; hops++) {
    if (url.username || url.password) throw new OutboundRefusedError('URLs with credentials are refused');
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundRefusedError(`${url.protocol} URLs are refused`);
    opts.checkUrl(url);
    const res = await requestOnce(url, checkAddressRule(url, trusted), opts, signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location) {
      res.resume();
      if (hops >= maxRedirects) throw new OutboundRefusedError('too many redirects');
      try {
        url = new URL(location, url);
      } catch {
        throw new OutboundRefusedError('redirect to something that is not a URL');
      }
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      return { status, headers: res.headers, body: Buffer.alloc(0), url };
    }
    return { status, headers: res.headers, body: await readCapped(res, opts.maxBytes), url };
  }
}
