import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAssetUrl, createMakeIt3DProcessor, type MakeIt3DOptions, nextPollDelay } from '../../src/adapters/processor/makeit3d.js';
import {
  isProcessingAborted,
  type Operation,
  PermanentProcessingError,
  ProcessingAbortedError,
  type ProcessJob,
  type Processor,
  ProviderPendingError,
  SubmitOutcomeUnknownError,
  TransientProcessingError,
} from '../../src/adapters/processor/processor.js';
import { type FakeMakeIt3D, startFakeMakeIt3D } from '../fakes/makeit3d.js';

const IMAGE_ID = '5b0a3f5e-2c1d-4f7a-9d0e-8c6b1a2f3e4d';

let fake: FakeMakeIt3D;
let input: Buffer;

beforeEach(async () => {
  fake = await startFakeMakeIt3D({ completeAfterMs: 30 });
  input = await sharp({ create: { width: 80, height: 60, channels: 3, background: '#ffffff' } })
    .composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60"><rect x="20" y="15" width="40" height="30" fill="#c00"/></svg>') }])
    .png()
    .toBuffer();
});
afterEach(() => fake.close());

/** Fast timings: the protocol is the same, the clock is shorter. */
function client(extra: Partial<MakeIt3DOptions> = {}) {
  return createMakeIt3DProcessor({
    apiKey: fake.apiKey,
    baseUrl: fake.url,
    maxInputPixels: 10_000_000,
    requestTimeoutMs: 2_000,
    submitAttempts: 5,
    submitBackoffMs: { base: 5, max: 20 },
    pollScheduleMs: [10, 20, 30, 50],
    pollErrorBackoffMs: { base: 5, max: 20 },
    ...extra,
  });
}

interface JobLog {
  saved: string[];
  /** fake.stats.polls when saveProviderTaskId finished. */
  pollsAtSave: number[];
}

function makeJob(operation: Operation, extra: Partial<ProcessJob> = {}): { job: ProcessJob; log: JobLog } {
  const log: JobLog = { saved: [], pollsAtSave: [] };
  const inputUrl = fake.putInput(input);
  const job: ProcessJob = {
    imageId: IMAGE_ID,
    operation,
    loadInput: async () => input,
    inputUrl: async () => inputUrl,
    providerTaskId: null,
    saveProviderTaskId: async (id) => {
      // a real write takes time (longer than the first poll delay here): polling must wait for it
      await new Promise((r) => setTimeout(r, 40));
      log.pollsAtSave.push(fake.stats.polls);
      log.saved.push(id);
    },
    deadline: new Date(Date.now() + 5_000),
    ...extra,
  };
  return { job, log };
}

/**
 * What the queue and the job handler do with a remote job: a pending outcome ends the run, and
 * the next run, `retryInMs` later, resumes from the saved task id (its submit time stored with it).
 * `runs` counts the calls of process().
 */
async function run(processor: Processor, job: ProcessJob, runs: { count: number } = { count: 0 }): Promise<Buffer> {
  let current: ProcessJob = {
    ...job,
    submittedAt: job.submittedAt ?? new Date(),
    saveProviderTaskId: async (id) => {
      await job.saveProviderTaskId(id);
      current = { ...current, providerTaskId: id };
    },
  };
  for (;;) {
    runs.count++;
    try {
      return await processor.process(current);
    } catch (err) {
      if (!(err instanceof ProviderPendingError)) throw err;
      expect(err.retryInMs).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, err.retryInMs)); // the queue's delay, not a wait for a condition
    }
  }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected a rejection');
  return err;
}

describe('MakeIt3D adapter: the happy path', () => {
  it('remove-bg: sends the exact body and key, stores the id before polling, answers a PNG with alpha', async () => {
    const { job, log } = makeJob('remove-bg');
    const out = await run(client(), job);
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height, meta.hasAlpha]).toEqual([80, 60, true]);
    // the provider really transformed the input: its corner colour is keyed out
    const { data } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect(data[3]).toBe(0);
    expect(data[(30 * 80 + 40) * 4 + 3]).toBe(255);

    expect(fake.stats.tasksCreated).toBe(1);
    expect(fake.stats.submitRequests).toBe(1);
    const [task] = [...fake.tasks.values()];
    expect(task!.body).toEqual({
      task_id: `remove-bg-${IMAGE_ID}`,
      input_image_asset_url: await job.inputUrl(),
      provider: 'stability',
      output_format: 'png',
    });
    expect(fake.stats.lastSubmitHeaders!['x-api-key']).toBe(fake.apiKey);
    expect(log.saved).toEqual([task!.id]); // the provider's id, not ours
    expect(log.pollsAtSave).toEqual([0]);
    expect(fake.stats.downloads).toBe(1);
  });

  it('upscale: exact body, the result is twice the input', async () => {
    const { job } = makeJob('upscale');
    const meta = await sharp(await run(client(), job)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 160, 120]);
    expect([...fake.tasks.values()][0]!.body).toEqual({
      task_id: `upscale-${IMAGE_ID}`,
      input_image_asset_url: await job.inputUrl(),
      provider: 'stability',
      model: 'fast',
      output_format: 'png',
    });
  });

  it('downscale: exact body, the result is the input halved', async () => {
    const { job } = makeJob('downscale');
    const meta = await sharp(await run(client(), job)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 40, 30]);
    expect([...fake.tasks.values()][0]!.body).toEqual({
      task_id: `downscale-${IMAGE_ID}`,
      input_image_asset_url: await job.inputUrl(),
      max_size_mb: 2.0,
      aspect_ratio_mode: 'original',
      output_format: 'png',
    });
  });

  it('reports every provider call to the metrics hook', async () => {
    const calls: string[] = [];
    const { job } = makeJob('upscale');
    await run(client({ onProviderCall: (op, call, seconds, outcome) => calls.push(`${op}:${call}:${outcome}:${seconds >= 0}`) }), job);
    expect(calls[0]).toBe('upscale:submit:200:true');
    expect(calls).toContain('upscale:poll:200:true');
    expect(calls.at(-1)).toBe('upscale:download:ok:true');
  });
});

describe('MakeIt3D adapter: submit failures', () => {
  it('a 429 storm then success creates exactly one task', async () => {
    fake.controls.submit429 = 3;
    const { job, log } = makeJob('upscale');
    await run(client(), job);
    expect(fake.stats.submitRequests).toBe(4);
    expect(fake.stats.tasksCreated).toBe(1);
    expect(fake.stats.tasksByClientId.get(`upscale-${IMAGE_ID}`)).toBe(1);
    expect(log.saved).toHaveLength(1);
  });

  it('a 429 storm that never ends is transient after bounded attempts, nothing stored', async () => {
    fake.controls.submit429 = 1_000;
    const { job, log } = makeJob('upscale');
    const err = await rejection(run(client({ submitAttempts: 4 }), job));
    expect(err).toBeInstanceOf(TransientProcessingError);
    expect(err.message).toMatch(/429/);
    expect(fake.stats.submitRequests).toBe(4);
    expect(fake.stats.tasksCreated).toBe(0);
    expect(log.saved).toEqual([]);
  });

  it('5xx on submit is retried, then succeeds with one task', async () => {
    fake.controls.submit5xx = 2;
    fake.controls.errorStatus = 502;
    const { job } = makeJob('downscale');
    await run(client(), job);
    expect(fake.stats.submitRequests).toBe(3);
    expect(fake.stats.tasksCreated).toBe(1);
  });

  it('a connection dropped before any answer is retried', async () => {
    fake.controls.submitDrop = 1;
    const { job } = makeJob('downscale');
    await run(client(), job);
    expect(fake.stats.submitRequests).toBe(2);
    expect(fake.stats.tasksCreated).toBe(1);
  });

  it('a hung submit times out and is NOT retried (a task may exist): permanent, outcome unknown', async () => {
    fake.controls.submitHang = 1;
    const { job, log } = makeJob('upscale');
    const started = Date.now();
    const err = await rejection(run(client({ requestTimeoutMs: 200 }), job));
    expect(err).toBeInstanceOf(SubmitOutcomeUnknownError);
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fake.stats.submitRequests).toBe(1);
    expect(fake.stats.tasksCreated).toBe(1); // the provider did create it: a retry would have duplicated it
    expect(log.saved).toEqual([]);
  });

  it('a 200 whose body breaks off is an unknown outcome too: not retried', async () => {
    fake.controls.submitTruncate = 1;
    const { job, log } = makeJob('upscale');
    await expect(run(client(), job)).rejects.toThrow(SubmitOutcomeUnknownError);
    expect(fake.stats.submitRequests).toBe(1);
    expect(log.saved).toEqual([]);
  });

  it('a wrong API key is permanent (401)', async () => {
    const { job } = makeJob('upscale');
    const err = await rejection(run(client({ apiKey: 'wrong' }), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toMatch(/401/);
    expect(fake.stats.submitRequests).toBe(1);
  });

  it('a deadline already passed: no submit at all', async () => {
    const { job } = makeJob('upscale', { deadline: new Date(Date.now() - 1) });
    await expect(run(client(), job)).rejects.toThrow('provider deadline exceeded');
    expect(fake.stats.submitRequests).toBe(0);
  });
});

describe('MakeIt3D adapter: runs end while the provider works', () => {
  it('the run that submits saves the id and ends pending, without a poll; a resumed run polls once', async () => {
    fake.controls.pendingForever = true;
    const { job, log } = makeJob('upscale');
    const first = await rejection(client().process(job));
    expect(first).toBeInstanceOf(ProviderPendingError);
    // the next slot counted from the submit: 10 ms, or 30 ms once the 40 ms save is counted in
    expect((first as ProviderPendingError).retryInMs).toBeLessThanOrEqual(30);
    expect(log.saved).toHaveLength(1);
    expect(fake.stats.polls).toBe(0);

    const resumed = { ...job, providerTaskId: log.saved[0]!, submittedAt: new Date(Date.now() - 15) };
    const second = await rejection(client().process(resumed));
    expect(second).toBeInstanceOf(ProviderPendingError);
    expect(fake.stats.polls).toBe(1);
    // 15 ms after the submit, the next slot is 30 ms (10 + 20): about 15 ms from now
    expect((second as ProviderPendingError).retryInMs).toBeGreaterThan(5);
    expect((second as ProviderPendingError).retryInMs).toBeLessThanOrEqual(15);
    expect(fake.stats.submitRequests).toBe(1);
  });

  it('polls across runs follow the schedule counted from the submit (a 500 ms task: at most 12 polls)', async () => {
    fake.controls.completeAfterMs = 500;
    const { job } = makeJob('upscale');
    const runs = { count: 0 };
    await run(client(), job, runs);
    // slots 10, 30, 60, then every 50 ms: the first at or after 500 ms is 510, the 12th
    const [task] = [...fake.tasks.values()];
    expect(task!.polls).toBeGreaterThanOrEqual(1);
    expect(task!.polls).toBeLessThanOrEqual(12);
    expect(runs.count).toBe(task!.polls + 1); // one submit run, then one poll per run
    expect(fake.stats.submitRequests).toBe(1);
  });

  it('nextPollDelay: the default schedule puts polls at 1, 3, 6, 11, 16 s after the submit', () => {
    const schedule = [1_000, 2_000, 3_000, 5_000];
    expect(nextPollDelay(schedule, 0)).toBe(1_000);
    expect(nextPollDelay(schedule, 1_020)).toBe(1_980);
    expect(nextPollDelay(schedule, 3_020)).toBe(2_980);
    expect(nextPollDelay(schedule, 6_020)).toBe(4_980);
    expect(nextPollDelay(schedule, 11_020)).toBe(4_980);
    expect(nextPollDelay(schedule, 3_600_000)).toBe(1_000); // 3,601 s is a slot (11 s + 718 x 5 s)
    // a run a little early never polls again at once: the slot it was meant for is skipped
    expect(nextPollDelay(schedule, 2_990)).toBe(3_010);
    // a 5 s task, each run exactly on time: polls at 1, 3, 6 s (the bench allows 6)
    const polls: number[] = [];
    for (let at = nextPollDelay(schedule, 0); polls.length < 10; at += nextPollDelay(schedule, at)) {
      polls.push(at);
      if (at >= 5_000) break;
    }
    expect(polls).toEqual([1_000, 3_000, 6_000]);
  });
});

describe('MakeIt3D adapter: polling', () => {
  it('a failed task is permanent with the provider message', async () => {
    fake.controls.failWith = 'Stability: request flagged by content moderation';
    const { job } = makeJob('remove-bg');
    const err = await rejection(run(client(), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toBe('Stability: request flagged by content moderation');
    expect(fake.stats.downloads).toBe(0);
  });

  it('an input the provider cannot fetch fails the task with its error', async () => {
    const { job } = makeJob('upscale', { inputUrl: async () => `${fake.url}/inputs/does-not-exist` });
    const err = await rejection(run(client(), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toMatch(/could not process the input image: HTTP 404/);
  });

  it('a task that never completes ends at the deadline with a bounded number of polls', async () => {
    fake.controls.pendingForever = true;
    const deadline = new Date(Date.now() + 500);
    const { job } = makeJob('remove-bg', { deadline });
    const err = await rejection(run(client(), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toBe('provider deadline exceeded');
    expect(Date.now() - deadline.getTime()).toBeLessThan(300);
    const [task] = [...fake.tasks.values()];
    // schedule 10, 20, 30, then every 50 ms: about 3 + 440/50 polls in 500 ms
    expect(task!.polls).toBeGreaterThanOrEqual(5);
    expect(task!.polls).toBeLessThanOrEqual(14);
    // one poller: no two polls closer than the smallest step
    const gaps = fake.stats.pollTimes.slice(1).map((t, i) => t - fake.stats.pollTimes[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(8);
    expect(fake.stats.submitRequests).toBe(1);
  });

  it('the default schedule is 1 s, 2 s, 3 s then 5 s (polls at 1 s, 3 s, and the deadline at 3.5 s)', async () => {
    fake.controls.pendingForever = true;
    const { job } = makeJob('upscale', { deadline: new Date(Date.now() + 3_500) });
    const c = createMakeIt3DProcessor({ apiKey: fake.apiKey, baseUrl: fake.url, maxInputPixels: 1e7 });
    await expect(run(c, job)).rejects.toThrow('provider deadline exceeded');
    // polls at ~1 s and ~3 s, then the deadline cuts the 3 s wait short with a last poll at 3.5 s
    expect(fake.stats.polls).toBe(3);
  });

  it('429 and 5xx on polls back off and keep polling', async () => {
    fake.controls.poll429 = 2;
    fake.controls.poll5xx = 2;
    fake.controls.errorStatus = 500;
    const { job } = makeJob('downscale');
    const meta = await sharp(await run(client(), job)).metadata();
    expect(meta.width).toBe(40);
    expect(fake.stats.polls).toBeGreaterThanOrEqual(5);
    expect(fake.stats.submitRequests).toBe(1);
  });

  it('a 5xx storm on polls backs off (bounded poll rate) until the deadline', async () => {
    fake.controls.poll5xx = 10_000;
    const { job } = makeJob('upscale', { deadline: new Date(Date.now() + 600) });
    const err = await rejection(run(client({ pollErrorBackoffMs: { base: 40, max: 160 }, random: () => 1 }), job));
    expect(err.message).toBe('provider deadline exceeded');
    // without the error backoff the 10-50 ms schedule would allow ~14 polls
    expect(fake.stats.polls).toBeGreaterThanOrEqual(3);
    expect(fake.stats.polls).toBeLessThanOrEqual(8);
  });

  it('resumes from a stored provider id: zero submits', async () => {
    // a task created by an earlier run of the job
    const res = await fetch(`${fake.url}/generate/upscale`, {
      method: 'POST',
      headers: { 'x-api-key': fake.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({
        task_id: `upscale-${IMAGE_ID}`,
        input_image_asset_url: fake.putInput(input),
        provider: 'stability',
        model: 'fast',
        output_format: 'png',
      }),
    });
    const { task_id } = (await res.json()) as { task_id: string };
    const submitsBefore = fake.stats.submitRequests;
    const { job, log } = makeJob('upscale', { providerTaskId: task_id });
    const meta = await sharp(await run(client(), job)).metadata();
    expect([meta.width, meta.height]).toEqual([160, 120]);
    expect(fake.stats.submitRequests).toBe(submitsBefore);
    expect(fake.stats.tasksCreated).toBe(1);
    expect(log.saved).toEqual([]);
  });

  it('a stored id the provider does not know stays pending: deadline, never a resubmit', async () => {
    const { job } = makeJob('upscale', { providerTaskId: 'unknown-task', deadline: new Date(Date.now() + 200) });
    await expect(run(client(), job)).rejects.toThrow('provider deadline exceeded');
    expect(fake.stats.submitRequests).toBe(0);
  });

  it('shutdown stops polling with an AbortError, not a failure', async () => {
    fake.controls.pendingForever = true;
    const controller = new AbortController();
    const { job, log } = makeJob('upscale', { signal: controller.signal });
    const p = run(client(), job);
    const timer = setInterval(() => {
      if (fake.stats.polls >= 2) controller.abort();
    }, 5);
    const err = await rejection(p);
    clearInterval(timer);
    expect(err).toBeInstanceOf(ProcessingAbortedError);
    expect(err).not.toBeInstanceOf(PermanentProcessingError);
    expect(err.name).toBe('AbortError');
    expect(isProcessingAborted(err)).toBe(true);
    expect(log.saved).toHaveLength(1); // the next run resumes from it
    const polls = fake.stats.polls;
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.stats.polls).toBe(polls); // really stopped
  });
});

describe('MakeIt3D adapter: the asset is untrusted', () => {
  it('refuses an asset_url on another host over http', async () => {
    fake.controls.assetUrl = (_task, url) => url.replace('127.0.0.1', 'localhost');
    const { job } = makeJob('upscale');
    const err = await rejection(run(client(), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toMatch(/asset_url refused/);
    expect(fake.stats.downloads).toBe(0);
  });

  it('refuses a non-https asset_url', async () => {
    fake.controls.assetUrl = () => 'ftp://files.example.com/result.png';
    const { job } = makeJob('upscale');
    await expect(run(client(), job)).rejects.toThrow(/asset_url refused/);
  });

  it('checkAssetUrl: https anywhere, http only on the base host, no credentials', () => {
    const base = 'http://127.0.0.1:4000';
    expect(checkAssetUrl('https://cdn.example.com/a.png?sig=1', base).host).toBe('cdn.example.com');
    expect(checkAssetUrl('http://127.0.0.1:4000/assets/a.png', base).port).toBe('4000');
    expect(() => checkAssetUrl('http://127.0.0.1:4001/assets/a.png', base)).toThrow(PermanentProcessingError);
    expect(() => checkAssetUrl('http://cdn.example.com/a.png', 'https://api.makeit3d.io')).toThrow(PermanentProcessingError);
    expect(() => checkAssetUrl('https://user:pw@cdn.example.com/a.png', base)).toThrow(/credentials/);
    expect(() => checkAssetUrl('not a url', base)).toThrow(PermanentProcessingError);
    expect(() => checkAssetUrl(null, base)).toThrow(PermanentProcessingError);
    expect(() => checkAssetUrl('file:///etc/passwd', base)).toThrow(PermanentProcessingError);
  });

  it('refuses an oversized asset announced by Content-Length', async () => {
    fake.controls.assetBody = Buffer.concat([input, Buffer.alloc(300_000)]);
    const { job } = makeJob('upscale');
    const err = await rejection(run(client({ maxAssetBytes: 100_000 }), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toMatch(/asset too large/);
  });

  it('refuses an oversized asset streamed without Content-Length', async () => {
    fake.controls.assetBody = Buffer.concat([input, Buffer.alloc(300_000)]);
    fake.controls.assetChunked = true;
    const { job } = makeJob('upscale');
    await expect(run(client({ maxAssetBytes: 100_000 }), job)).rejects.toThrow(/asset too large \(over 100000 bytes\)/);
  });

  it('refuses an asset that is not an image', async () => {
    fake.controls.assetBody = Buffer.from('<html><body>Access denied</body></html>');
    const { job } = makeJob('upscale');
    const err = await rejection(run(client(), job));
    expect(err).toBeInstanceOf(PermanentProcessingError);
    expect(err.message).toMatch(/not an image/);
  });

  it('refuses a truncated PNG', async () => {
    fake.controls.assetBody = input.subarray(0, 60);
    const { job } = makeJob('upscale');
    await expect(run(client(), job)).rejects.toThrow(/invalid image/);
  });

  it('refuses an asset over the pixel limit', async () => {
    const { job } = makeJob('upscale');
    await expect(run(client({ maxInputPixels: 1_000 }), job)).rejects.toThrow(/invalid image/);
  });

  it('follows a redirect on the provider host, refuses one to another host', async () => {
    const { job } = makeJob('upscale');
    fake.controls.assetUrl = (_task, url) => {
      fake.controls.assetRedirectTo = `${url}?redirected=1`;
      return url;
    };
    expect((await sharp(await run(client(), job)).metadata()).width).toBe(160);
    expect(fake.stats.downloads).toBe(2); // the 302, then the target

    const second = makeJob('upscale');
    fake.controls.assetUrl = (_task, url) => {
      fake.controls.assetRedirectTo = `${url.replace('127.0.0.1', 'localhost')}?redirected=1`;
      return url;
    };
    await expect(run(client(), second.job)).rejects.toThrow(/asset_url refused/);
  });

  it('asset download 5xx is retried, and transient when it persists (the stored id is resumed later)', async () => {
    fake.controls.asset5xx = 1;
    const { job } = makeJob('upscale');
    expect((await sharp(await run(client(), job)).metadata()).width).toBe(160);

    fake.controls.asset5xx = 100;
    const second = makeJob('upscale');
    const err = await rejection(run(client({ downloadAttempts: 3 }), second.job));
    expect(err).toBeInstanceOf(TransientProcessingError);
    expect(second.log.saved).toHaveLength(1);
    // the queue's retry resumes from the stored id: no new task
    fake.controls.asset5xx = 0;
    const tasks = fake.stats.tasksCreated;
    const again = makeJob('upscale', { providerTaskId: second.log.saved[0]! });
    expect((await sharp(await run(client(), again.job)).metadata()).width).toBe(160);
    expect(fake.stats.tasksCreated).toBe(tasks);
  });

  it('a missing asset (404) is permanent', async () => {
    fake.controls.assetUrl = (_task, url) => url.replace('/assets/', '/assets/x');
    const { job } = makeJob('upscale');
    await expect(run(client(), job)).rejects.toThrow(/asset download refused \(HTTP 404\)/);
  });
});

describe('the fake MakeIt3D itself', () => {
  const post = (path: string, body: unknown, key = fake.apiKey) =>
    fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const valid = () => ({ task_id: 't', input_image_asset_url: fake.putInput(input), provider: 'stability', output_format: 'png' });

  it('401 {"error"} on a wrong key, for submits and polls', async () => {
    const res = await post('/generate/remove-background', valid(), 'nope');
    expect(res.status).toBe(401);
    expect(await res.json()).toHaveProperty('error');
    const poll = await fetch(`${fake.url}/tasks/x/status`, { headers: { 'x-api-key': 'nope' } });
    expect(poll.status).toBe(401);
  });

  it('422 on bad bodies', async () => {
    const cases: Array<[string, unknown]> = [
      ['/generate/remove-background', '{not json'],
      ['/generate/remove-background', { ...valid(), provider: 'openai' }],
      ['/generate/remove-background', { ...valid(), output_format: 'gif' }],
      ['/generate/remove-background', { ...valid(), task_id: undefined }],
      ['/generate/upscale', { ...valid(), model: undefined }],
      ['/generate/downscale', { ...valid(), max_size_mb: 50, aspect_ratio_mode: 'original' }],
      ['/generate/downscale', { ...valid(), max_size_mb: 2, aspect_ratio_mode: 'stretch' }],
      ['/generate/downscale', { ...valid(), input_image_asset_url: 'file:///etc/passwd', max_size_mb: 2, aspect_ratio_mode: 'original' }],
    ];
    for (const [path, body] of cases) {
      const res = await post(path, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(await res.json()).toHaveProperty('error');
    }
    expect(fake.stats.tasksCreated).toBe(0);
  });

  it('moves pending -> processing -> complete and serves the result on itself', async () => {
    fake.controls.completeAfterMs = 150;
    const { task_id } = (await (await post('/generate/remove-background', valid())).json()) as { task_id: string };
    const status = async () =>
      (await (await fetch(`${fake.url}/tasks/${task_id}/status`, { headers: { 'x-api-key': fake.apiKey } })).json()) as {
        status: string;
        asset_url: string | null;
      };
    const seen = new Set<string>();
    let last = await status();
    while (last.status !== 'complete') {
      seen.add(last.status);
      await new Promise((r) => setTimeout(r, 10));
      last = await status();
    }
    expect([...seen]).toEqual(['pending', 'processing']);
    expect(last.asset_url!.startsWith(fake.url)).toBe(true);
    const asset = await fetch(last.asset_url!);
    expect((await sharp(Buffer.from(await asset.arrayBuffer())).metadata()).hasAlpha).toBe(true);
  });
});

describe('MakeIt3D adapter: the submit intent', () => {
  function intentJob(extra: Partial<ProcessJob> = {}) {
    const events: string[] = [];
    const made = makeJob('upscale', {
      recordSubmitIntent: async () => {
        events.push(`record:${fake.stats.submitRequests}`);
      },
      clearSubmitIntent: async () => {
        events.push(`clear:${fake.stats.submitRequests}`);
      },
      ...extra,
    });
    return { ...made, events };
  }

  it('is recorded before the submit goes out and kept once the task exists', async () => {
    const { job, events, log } = intentJob();
    await run(client(), job);
    expect(events).toEqual(['record:0']);
    expect(log.saved).toHaveLength(1);
  });

  it('an intent left by an earlier run without a task id fails at once, without a submit', async () => {
    const { job, events } = intentJob({ submitIntentRecorded: true });
    const err = await rejection(run(client(), job));
    expect(err).toBeInstanceOf(SubmitOutcomeUnknownError);
    expect(fake.stats.submitRequests).toBe(0);
    expect(events).toEqual([]);
  });

  it('is cleared when every submit was refused (no task exists), so the queue may run it again', async () => {
    fake.controls.submit5xx = 100;
    const { job, events } = intentJob();
    const err = await rejection(run(client({ submitAttempts: 2 }), job));
    expect(err).toBeInstanceOf(TransientProcessingError);
    expect(events).toEqual(['record:0', 'clear:2']);
  });

  it('is kept when the submit timed out (a task may exist)', async () => {
    fake.controls.submitHang = 1;
    const { job, events } = intentJob();
    const err = await rejection(run(client({ requestTimeoutMs: 200 }), job));
    expect(err).toBeInstanceOf(SubmitOutcomeUnknownError);
    expect(events).toEqual(['record:0']);
  });
});
