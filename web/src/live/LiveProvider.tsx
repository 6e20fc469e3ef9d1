import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from 'react';
import { openEventStream, type StreamStatus } from './stream';

/** The `image` event: the same object as GET /images/{id}. */
export interface ImageEvent {
  id: string;
  status: 'pending' | 'queued' | 'processing' | 'processed' | 'failed';
  operation: string;
  filename: string;
  original_path: string;
  processed_path: string | null;
  error_message: string | null;
  created_at: string;
  updated_at: string;
}

type Listener = (type: string, data: unknown) => void;
type LiveListener = (first: boolean) => void;

interface Hub {
  subscribe(listener: Listener): () => void;
  onLive(listener: LiveListener): () => void;
}

const HubContext = createContext<Hub | null>(null);
const StatusContext = createContext<StreamStatus>('connecting');

/** One event stream for the whole app; pages subscribe to the events they show. */
export function LiveProvider({ children, onSignedOut }: { children: ReactNode; onSignedOut(): void }) {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const signedOut = useRef(onSignedOut);
  useEffect(() => {
    signedOut.current = onSignedOut;
  });
  const [hub] = useState(() => {
    const listeners = new Set<Listener>();
    const liveListeners = new Set<LiveListener>();
    return {
      listeners,
      liveListeners,
      subscribe(listener: Listener) {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
      onLive(listener: LiveListener) {
        liveListeners.add(listener);
        return () => void liveListeners.delete(listener);
      },
    };
  });

  useEffect(
    () =>
      openEventStream('/images/events', {
        onEvent: (type, data) => hub.listeners.forEach((l) => l(type, data)),
        onStatus: (s) => {
          setStatus(s);
          if (s === 'signed-out') signedOut.current();
        },
        onLive: (first) => hub.liveListeners.forEach((l) => l(first)),
      }),
    [hub],
  );

  return (
    <HubContext.Provider value={hub}>
      <StatusContext.Provider value={status}>{children}</StatusContext.Provider>
    </HubContext.Provider>
  );
}

function useHub(): Hub {
  const hub = useContext(HubContext);
  if (!hub) throw new Error('live events used outside LiveProvider');
  return hub;
}

export const useLiveStatus = () => useContext(StatusContext);

/** Calls `handler` for each event of `type` (the latest handler, without resubscribing). */
export function useLiveEvent<T>(type: string, handler: (data: T) => void): void {
  const hub = useHub();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => hub.subscribe((t, data) => t === type && ref.current(data as T)), [hub, type]);
}

/**
 * Calls `handler` when the stream comes back after a gap, where events may
 * have been missed (and on the first connection too with `includeFirst`).
 */
export function useCatchUp(handler: () => void, includeFirst = false): void {
  const hub = useHub();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => hub.onLive((first) => (includeFirst || !first) && ref.current()), [hub, includeFirst]);
}
