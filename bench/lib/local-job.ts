import type { Operation, ProcessJob } from '../../src/adapters/processor/processor.js';

/** A job for the local processor run in the bench's own process: the input in memory, no provider, no finishing. */
export const localJob = (operation: Operation, input: Buffer): ProcessJob => ({
  imageId: '00000000-0000-4000-8000-000000000000',
  operation,
  loadInput: async () => input,
  inputUrl: async () => 'unused',
  providerTaskId: null,
  saveProviderTaskId: async () => {},
  deadline: new Date(Date.now() + 120_000),
  finishing: null,
});
