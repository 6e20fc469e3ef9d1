import { UnavailableError } from './errors.js';

export interface Semaphore {
  /** Runs `task` when one of the slots is free; a full waiting line is a 503 (UnavailableError) at once. */
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly running: number;
  readonly waiting: number;
}

/** At most `slots` tasks at once, at most `maxWaiting` in line behind them. */
export function createSemaphore(slots: number, maxWaiting: number): Semaphore {
  let running = 0;
  const line: Array<() => void> = [];
  // A finished task hands its slot straight to the next in line, so no newcomer can slip in between.
  const release = () => {
    const waiter = line.shift();
    if (waiter) waiter();
    else running--;
  };
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running >= slots) {
        if (line.length >= maxWaiting) throw new UnavailableError('Too many images in progress, retry shortly', 'BUSY', 1);
        await new Promise<void>((resolve) => line.push(resolve));
      } else {
        running++;
      }
      try {
        return await task();
      } finally {
        release();
      }
    },
    get running() {
      return running;
    },
    get waiting() {
      return line.length;
    },
  };
}
