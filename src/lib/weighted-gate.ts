/**
 * Admission by weight and count: at most `maxCount` holders at once whose
 * weights sum to at most `capacity`. First come, first served (a light task
 * never overtakes a heavy one waiting in front of it, so none starves); a task
 * heavier than the whole capacity runs when it is alone.
 */
export interface WeightedGate {
  /** Resolves once admitted, with the function that gives the weight back (call it once). */
  acquire(weight: number): Promise<() => void>;
  /** Admitted holders and the sum of their weights, and how many wait. */
  readonly count: number;
  readonly weight: number;
  readonly waiting: number;
}

export function createWeightedGate(capacity: number, maxCount: number): WeightedGate {
  let count = 0;
  let weight = 0;
  const line: Array<{ weight: number; admit: () => void }> = [];
  const fits = (w: number) => count === 0 || (count < maxCount && weight + w <= capacity);
  const admitFromLine = () => {
    while (line.length > 0 && fits(line[0]!.weight)) {
      const next = line.shift()!;
      count++;
      weight += next.weight;
      next.admit();
    }
  };
  const releaser = (w: number) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      count--;
      weight -= w;
      admitFromLine();
    };
  };
  return {
    acquire(w) {
      if (line.length === 0 && fits(w)) {
        count++;
        weight += w;
        return Promise.resolve(releaser(w));
      }
      return new Promise((resolve) => line.push({ weight: w, admit: () => resolve(releaser(w)) }));
    },
    get count() {
      return count;
    },
    get weight() {
      return weight;
    },
    get waiting() {
      return line.length;
    },
  };
}
