import { createParser } from 'eventsource-parser';
import { authHeaders, CREDENTIALS, retryAfterMs } from '../api/http';
import { EMBEDDED } from '../env';

/**
 * The event stream (GET /images/events) read with fetch, in both modes: an
 * EventSource cannot send the session token the embedded page must use, and
 * it hides why a connection failed. Every (re)connection asks for a fresh
 * token; a stream that goes quiet past three heartbeats (15 s each) counts
 * as lost; reconnects back off from 1 s to 30 s. The server keeps no backlog,
 * so `onLive` tells the pages to catch up after a gap.
 */

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'signed-out';

export interface StreamHandlers {
  onEvent(type: string, data: unknown): void;
  onStatus(status: StreamStatus): void;
  /** Each time the stream is (re)established; `first` is false after a gap. */
  onLive(first: boolean): void;
}

const QUIET_LIMIT_MS = 45_000;
const MAX_BACKOFF_MS = 30_000;

export function openEventStream(url: string, handlers: StreamHandlers): () => void {
  let stopped = false;
  let controller: AbortController | null = null;
  let first = true;

  async function connectOnce(): Promise<{ retryInMs?: number; signedOut?: boolean; wasLive: boolean }> {
    controller = new AbortController();
    const abort = controller;
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const armQuietTimer = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => abort.abort(), QUIET_LIMIT_MS);
    };
    let wasLive = false;
    try {
      armQuietTimer();
      const response = await fetch(url, {
        headers: { accept: 'text/event-stream', ...(await authHeaders()) },
        credentials: CREDENTIALS,
        cache: 'no-store',
        signal: abort.signal,
      });
      // A cookie session that ended is final; a session token is fetched afresh on the next try.
      if (response.status === 401 && !EMBEDDED) return { signedOut: true, wasLive };
      if (response.status === 429) return { retryInMs: retryAfterMs(response.headers.get('retry-after')), wasLive };
      if (!response.ok || !response.body) return { wasLive };
      wasLive = true;
      handlers.onStatus('live');
      handlers.onLive(first);
      first = false;
      const parser = createParser({
        onEvent: (event) => {
          try {
            handlers.onEvent(event.event ?? 'message', JSON.parse(event.data));
          } catch {
            // a malformed event is skipped; the next one is independent
          }
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armQuietTimer();
        parser.feed(value);
      }
      return { wasLive };
    } catch {
      return { wasLive };
    } finally {
      clearTimeout(quiet);
    }
  }

  void (async () => {
    let backoff = 1000;
    handlers.onStatus('connecting');
    while (!stopped) {
      const result = await connectOnce();
      if (stopped) return;
      if (result.signedOut) {
        handlers.onStatus('signed-out');
        return;
      }
      if (result.wasLive) backoff = 1000;
      handlers.onStatus('reconnecting');
      const wait = result.retryInMs ?? backoff * (0.75 + Math.random() / 2);
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      await new Promise((r) => setTimeout(r, wait));
    }
  })();

  return () => {
    stopped = true;
    controller?.abort();
  };
}
