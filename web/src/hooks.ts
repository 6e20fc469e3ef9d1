import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): Promise<void>;
  setData(update: (old: T | undefined) => T | undefined): void;
}

/** Loads `load()` now and whenever `deps` change; answers that arrive after a newer load are dropped. */
export function useResource<T>(load: () => Promise<T>, deps: DependencyList): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const seq = useRef(0);
  const loader = useRef(load);
  useEffect(() => {
    loader.current = load;
  });

  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await loader.current();
      if (mine === seq.current) setState({ data, error: undefined, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ ...s, error, loading: false }));
    }
  }, []);

  // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller's deps decide when to load again
  useEffect(() => void reload(), deps);
  useEffect(() => () => void seq.current++, []);

  const setData = useCallback((update: (old: T | undefined) => T | undefined) => setState((s) => ({ ...s, data: update(s.data) })), []);
  return { ...state, reload, setData };
}

/**
 * `fn` at most once per `ms`, trailing: a burst of live events becomes one
 * refetch, so the dashboard stays well inside the API's rate limits.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    ref.current = fn;
  });
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  }, [ms]);
}

export interface Action {
  busy: boolean;
  /** The last failure, shown until dismissed or the next run. */
  error: unknown;
  /** Runs `fn`, keeping `busy` while it runs; its failure goes to `error` (and the answer is undefined). */
  run<T>(fn: () => Promise<T>): Promise<T | undefined>;
  dismiss(): void;
}

/** A button's action: busy while it runs, its error kept for a banner. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const run = useCallback(async <T,>(fn: () => Promise<T>) => {
    setBusy(true);
    setError(undefined);
    try {
      return await fn();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const dismiss = useCallback(() => setError(undefined), []);
  return { busy, error, run, dismiss };
}
