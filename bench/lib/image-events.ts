/**
 * Watches a shop's GET /images/events stream and notes when each image first
 * reaches a status, so a scenario can wait for an outcome without polling the API.
 */
export interface ImageWatch {
  /** Resolves with performance.now() at the moment the event arrived. */
  reached(id: string, statuses: string[], timeoutMs?: number): Promise<{ at: number; status: string }>;
  close(): Promise<void>;
}

interface Seen {
  at: number;
  status: string;
}

export async function watchImages(base: string, cookie: string): Promise<ImageWatch> {
  const res = await fetch(`${base}/images/events`, { headers: { cookie } });
  if (!res.ok || !res.body) throw new Error(`GET /images/events: HTTP ${res.status}`);
  const reader = res.body.getReader();
  const seen = new Map<string, Seen[]>();
  const waiters = new Set<() => void>();
  let buffer = '';
  void (async () => {
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      const at = performance.now();
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!block.startsWith('event: image\n')) continue;
        const data = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { id: string; status: string };
        seen.set(data.id, [...(seen.get(data.id) ?? []), { at, status: data.status }]);
      }
      for (const wake of waiters) wake();
    }
  })();

  return {
    reached(id, statuses, timeoutMs = 30_000) {
      const find = () => seen.get(id)?.find((s) => statuses.includes(s.status));
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = find();
          if (!hit) return;
          cleanup();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`image ${id} did not reach ${statuses.join('/')} within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => reader.cancel(),
  };
}
