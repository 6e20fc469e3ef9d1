import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * "An image of this shop changed": the feed behind GET /images/events.
 * In-process in embedded mode; over Redis pub/sub when workers run in other
 * processes. Messages carry ids only; listeners read the row themselves.
 */
export interface ImageEvents {
  publish(shop: string, imageId: string): Promise<void>;
  subscribe(shop: string, listener: (imageId: string) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'image-events';

/** Published in place of an image id: the shop is gone (uninstalled), its open streams end. */
export const SHOP_CLOSED = 'shop-closed';

function localBus() {
  const bus = new EventEmitter();
  bus.setMaxListeners(0); // one listener per open SSE stream
  return {
    emit: (shop: string, id: string) => bus.emit(shop, id),
    subscribe(shop: string, listener: (id: string) => void) {
      bus.on(shop, listener);
      return () => void bus.off(shop, listener);
    },
  };
}

export function createMemoryImageEvents(): ImageEvents {
  const bus = localBus();
  return {
    async publish(shop, id) {
      bus.emit(shop, id);
    },
    subscribe: bus.subscribe,
    async close() {},
  };
}

/** `publisher` is a shared connection; the subscriber needs its own (a subscribed connection can only listen). */
export function createRedisImageEvents(publisher: Redis): ImageEvents {
  const bus = localBus();
  // Its own connection, which waits for Redis and resubscribes after a reconnect.
  const subscriber = publisher.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on('error', () => {}); // ioredis reconnects and resubscribes by itself
  subscriber.on('message', (_channel: string, message: string) => {
    const sep = message.indexOf(' ');
    if (sep > 0) bus.emit(message.slice(0, sep), message.slice(sep + 1));
  });
  // Not awaited: with Redis down at start, the subscription happens when it comes up.
  void subscriber.subscribe(CHANNEL).catch(() => {});
  return {
    async publish(shop, id) {
      await publisher.publish(CHANNEL, `${shop} ${id}`);
    },
    subscribe: bus.subscribe,
    async close() {
      subscriber.disconnect();
    },
  };
}
