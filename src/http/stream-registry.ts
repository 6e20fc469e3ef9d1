/**
 * The open event streams of this API process, by shop: bounded per shop and in
 * total, and closable per shop (uninstall) or all at once (shutdown).
 */
export interface StreamRegistry {
  /** Registers a stream; `shop_full` or `full` when a cap is reached (nothing registered then). */
  open(shop: string, end: () => void): { release: () => void } | 'shop_full' | 'full';
  closeShop(shop: string): void;
  closeAll(): void;
  readonly size: number;
}

export function createStreamRegistry(limits: { perShop: number; total: number }): StreamRegistry {
  const byShop = new Map<string, Set<() => void>>();
  let size = 0;
  return {
    open(shop, end) {
      const mine = byShop.get(shop) ?? new Set<() => void>();
      if (mine.size >= limits.perShop) return 'shop_full';
      if (size >= limits.total) return 'full';
      mine.add(end);
      byShop.set(shop, mine);
      size++;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          mine.delete(end);
          size--;
          if (mine.size === 0 && byShop.get(shop) === mine) byShop.delete(shop);
        },
      };
    },
    closeShop(shop) {
      for (const end of [...(byShop.get(shop) ?? [])]) end();
    },
    closeAll() {
      for (const ends of [...byShop.values()]) for (const end of [...ends]) end();
    },
    get size() {
      return size;
    },
  };
}
