/** Reads a streaming response (Server-Sent Events) in the background; `text()` is all received so far. */
export function collectStream(response: Response): { text(): string; cancel(): Promise<void>; ended(): boolean } {
  const reader = response.body!.getReader();
  let text = '';
  let ended = false;
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) {
        ended = true;
        return;
      }
      text += Buffer.from(value!).toString();
    }
  })();
  return { text: () => text, cancel: () => reader.cancel(), ended: () => ended };
}
