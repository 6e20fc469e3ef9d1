import { isPlainFinishing } from '../../modules/images/finishing.js';
import { applyFinishing } from './finish.js';
import sharp from 'sharp';
import { outboundFetch, OutboundRefusedError, OutboundTooLargeError } from '../outbound/fetch.js';
import {
  type Operation,
  PermanentProcessingError,
  ProcessingAbortedError,
  type ProcessJob,
  type Processor,
  ProviderPendingError,
  SubmitOutcomeUnknownError,
  throwIfAborted,
  TransientProcessingError,
} from './processor.js';

/**
 * The MakeIt3D adapter (docs/makeit3d.md): submit once, store the
 * provider's id, poll with backoff until the job's deadline, download the
 * asset at once, decode and re-encode it as PNG.
 *
 * Retry rules of a submit (the provider has no idempotency):
 * - 429, 5xx, or a connection error before any answer (refused, reset, closed,
 *   DNS): retried in-process with exponential backoff and full jitter, a
 *   bounded number of times, then TransientProcessingError (no task id was
 *   stored, so the queue may run the job again safely).
 * - our request timeout fired after the request went out: the provider may
 *   have created a task we can never find. Not retried here, and thrown as
 *   SubmitOutcomeUnknownError, a PermanentProcessingError: a queue retry would
 *   resubmit (no id is stored), which is exactly the blind duplicate the spec
 *   forbids. The image fails and is refunded; the merchant may run it again.
 * - any other answer (401, 422, a 200 without task_id): PermanentProcessingError.
 * job.signal does not abort a submit in flight (that would make its outcome
 * unknown): the id is saved first, then the abort is honoured.
 *
 * Polling never sleeps in a worker slot: the run that submitted ends with
 * ProviderPendingError once the id is saved, and each later run (resumed from
 * the stored id) polls once and, while the task runs, ends the same way, due at
 * the schedule's next slot counted from the submit (nextPollDelay). 429, 5xx,
 * timeouts and connection errors on a poll back off in-process and poll again;
 * other 4xx are permanent; the deadline ends it with
 * PermanentProcessingError('provider deadline exceeded') after one last poll
 * there. job.signal stops a poll with ProcessingAbortedError (name
 * "AbortError"): the image stays processing and the next run resumes from the
 * stored provider id.
 */
export interface MakeIt3DOptions {
  apiKey: string;
  /** e.g. https://api.makeit3d.io (http only in tests). */
  baseUrl: string;
  /** sharp's limitInputPixels for the downloaded asset. */
  maxInputPixels: number;
  /** Timeout of one submit or poll request (default 30 s). */
  requestTimeoutMs?: number;
  /** Timeout of the asset download (default 120 s). */
  downloadTimeoutMs?: number;
  /** Asset size cap (default 50 MB). */
  maxAssetBytes?: number;
  /** Submit attempts on 429/5xx/connection errors (default 6), and their backoff. */
  submitAttempts?: number;
  submitBackoffMs?: { base: number; max: number };
  /** Delays before each poll; the last one repeats (default 1 s, 2 s, 3 s, 5 s). */
  pollScheduleMs?: number[];
  /** Backoff after a failed poll (429/5xx/connection), doubled per consecutive failure (default 2 s .. 30 s). */
  pollErrorBackoffMs?: { base: number; max: number };
  /** Download attempts on 5xx/connection errors before TransientProcessingError (default 3). */
  downloadAttempts?: number;
  /** Metrics hook: one call per HTTP request to the provider (outcome: ok, or the status/error class). */
  onProviderCall?: (operation: Operation, call: 'submit' | 'poll' | 'download', seconds: number, outcome: string) => void;
  /** Jitter source, for tests (default Math.random). */
  random?: () => number;
}

const PATHS: Record<Operation, string> = {
  'remove-bg': '/generate/remove-background',
  upscale: '/generate/upscale',
  downscale: '/generate/downscale',
};

/** The exact body of a submit, as the spec gives it. */
export function submitBody(operation: Operation, imageId: string, inputUrl: string): Record<string, unknown> {
  const common = { task_id: `${operation}-${imageId}`, input_image_asset_url: inputUrl };
  switch (operation) {
    case 'remove-bg':
      return { ...common, provider: 'stability', output_format: 'png' };
    case 'upscale':
      return { ...common, provider: 'stability', model: 'fast', output_format: 'png' };
    case 'downscale':
      return { ...common, max_size_mb: 2.0, aspect_ratio_mode: 'original', output_format: 'png' };
  }
}

/**
 * asset_url is untrusted: https only, or http when its host (host:port) is the
 * configured base URL's host (tests). No credentials in the URL.
 */
export function checkAssetUrl(raw: unknown, baseUrl: string): URL {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 4096) {
    throw assetError('provider returned no usable asset_url');
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw assetError('provider returned a malformed asset_url');
  }
  if (url.username || url.password) throw assetError('asset_url with credentials refused');
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && url.host === new URL(baseUrl).host) return url;
  throw assetError(`asset_url refused: only https (or the provider's own host) is allowed`);
}

/** What a merchant reads when the provider's result could not be fetched; the detail goes to the logs. */
export const ASSET_PUBLIC_MESSAGE = "The provider's result could not be downloaded; the credit was refunded";

function assetError(detail: string): PermanentProcessingError {
  return new PermanentProcessingError(detail, { publicMessage: ASSET_PUBLIC_MESSAGE });
}

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** Why a request produced no answer. */
type NoAnswer = { kind: 'timeout' } | { kind: 'aborted' } | { kind: 'connection'; code: string };

function classify(err: unknown, timeoutSignal: AbortSignal, jobSignal: AbortSignal | undefined): NoAnswer {
  if (jobSignal?.aborted) return { kind: 'aborted' };
  if (timeoutSignal.aborted) return { kind: 'timeout' };
  const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name ?? 'error';
  // undici's own header/body timeouts: the request went out, no answer came back
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'timeout' };
  return { kind: 'connection', code };
}

/**
 * Milliseconds from now (`sinceSubmitMs` after the submit) to the next poll. Polls fall at the
 * running sums of the schedule (1, 3, 6, 11, 16 ... s with the default), whichever run makes
 * them, so a job polls as often as one in-process loop would. A slot closer than half the
 * smallest step is skipped: a run that came a little early or late never polls twice in a row.
 */
export function nextPollDelay(schedule: readonly number[], sinceSubmitMs: number): number {
  const after = Math.max(0, sinceSubmitMs) + Math.min(...schedule) / 2;
  let slot = 0;
  for (const step of schedule) {
    slot += step;
    if (slot > after) return slot - sinceSubmitMs;
  }
  const last = schedule[schedule.length - 1]!;
  return slot + (Math.floor((after - slot) / last) + 1) * last - sinceSubmitMs;
}

export function createMakeIt3DProcessor(options: MakeIt3DOptions): Processor {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const downloadTimeoutMs = options.downloadTimeoutMs ?? 120_000;
  const maxAssetBytes = options.maxAssetBytes ?? 50 * 1024 * 1024;
  const submitAttempts = options.submitAttempts ?? 6;
  const submitBackoff = options.submitBackoffMs ?? { base: 1_000, max: 30_000 };
  const schedule = options.pollScheduleMs?.length ? options.pollScheduleMs : [1_000, 2_000, 3_000, 5_000];
  const pollErrorBackoff = options.pollErrorBackoffMs ?? { base: 2_000, max: 30_000 };
  const downloadAttempts = options.downloadAttempts ?? 3;
  const random = options.random ?? Math.random;
  /** The provider's own origin (configured by the operator): exempt from the public-address rule. */
  const providerOrigin = new URL(baseUrl).origin;

  const report = (op: Operation, call: 'submit' | 'poll' | 'download', started: number, outcome: string) => {
    try {
      options.onProviderCall?.(op, call, (performance.now() - started) / 1000, outcome);
    } catch {
      // a metrics hook never breaks processing
    }
  };

  /** Exponential backoff with full jitter, at least a quarter of the step. */
  const backoff = (attempt: number, b: { base: number; max: number }) => {
    const step = Math.min(b.max, b.base * 2 ** attempt);
    return step * (0.25 + 0.75 * random());
  };

  /** Sleeps until ms passed, the deadline, or the abort (-> ProcessingAbortedError). */
  function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(new ProcessingAbortedError());
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** One JSON request: an HttpAnswer, or a NoAnswer when nothing came back. */
  async function requestJson(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    jobSignal: AbortSignal | undefined,
  ): Promise<HttpAnswer | NoAnswer> {
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    const signal = jobSignal ? AbortSignal.any([timeout, jobSignal]) : timeout;
    try {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          'X-API-Key': options.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'error',
        signal,
      });
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        // The status line came, the body broke off. For 429/5xx the status is enough;
        // otherwise the request was answered in part: its outcome is unknown.
        if (res.status === 429 || res.status >= 500) return new HttpAnswer(res.status, undefined);
        const why = classify(err, timeout, jobSignal);
        return why.kind === 'aborted' ? why : { kind: 'timeout' };
      }
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return new HttpAnswer(res.status, parsed);
    } catch (err) {
      return classify(err, timeout, jobSignal);
    }
  }

  const errorText = (body: unknown): string | undefined => {
    const e = (body as { error?: unknown; detail?: unknown } | undefined)?.error ?? (body as { detail?: unknown } | undefined)?.detail;
    if (typeof e === 'string') return e.slice(0, 500);
    if (e !== undefined) return JSON.stringify(e).slice(0, 500);
    return undefined;
  };

  async function submit(job: ProcessJob): Promise<string> {
    const body = submitBody(job.operation, job.imageId, await job.inputUrl());
    let last = '';
    for (let attempt = 0; attempt < submitAttempts; attempt++) {
      if (attempt > 0) {
        const wait = backoff(attempt - 1, submitBackoff);
        if (Date.now() + wait >= job.deadline.getTime()) break;
        await sleep(wait, job.signal); // nothing is in flight: an abort here is safe
      }
      if (Date.now() >= job.deadline.getTime()) break;
      const started = performance.now();
      // The submit itself is not tied to job.signal (see the header comment).
      const answer = await requestJson('POST', PATHS[job.operation], body, undefined);
      if (!(answer instanceof HttpAnswer)) {
        report(job.operation, 'submit', started, answer.kind);
        if (answer.kind === 'timeout') {
          throw new SubmitOutcomeUnknownError(
            'provider did not answer the submit in time; not retried, a task may exist (no idempotency)',
          );
        }
        last = `connection error (${answer.kind === 'connection' ? answer.code : answer.kind})`;
        continue;
      }
      report(job.operation, 'submit', started, String(answer.status));
      if (answer.status === 429 || answer.status >= 500) {
        last = `HTTP ${answer.status}`;
        continue;
      }
      if (answer.status === 200 || answer.status === 201 || answer.status === 202) {
        const id = (answer.body as { task_id?: unknown } | undefined)?.task_id;
        if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
          throw new PermanentProcessingError('provider accepted the submit without a usable task_id');
        }
        return id;
      }
      const detail = errorText(answer.body);
      if (answer.status === 401 || answer.status === 403) {
        throw new PermanentProcessingError(`provider rejected the API key (HTTP ${answer.status})`);
      }
      throw new PermanentProcessingError(`provider refused the submit (HTTP ${answer.status})${detail ? `: ${detail}` : ''}`);
    }
    if (Date.now() >= job.deadline.getTime() && !last) throw new PermanentProcessingError('provider deadline exceeded');
    throw new TransientProcessingError(`provider submit failed: ${last || 'deadline reached while backing off'}`);
  }

  interface Status {
    status: string;
    asset_url?: unknown;
    error?: unknown;
  }

  type PollOutcome = { kind: 'complete'; assetUrl: string } | { kind: 'running' } | { kind: 'unanswered' };

  /** One status request: complete, still running, or no usable answer (429, 5xx, timeout, connection). */
  async function pollOnce(job: ProcessJob, path: string): Promise<PollOutcome> {
    throwIfAborted(job.signal);
    const started = performance.now();
    const answer = await requestJson('GET', path, undefined, job.signal);
    if (!(answer instanceof HttpAnswer)) {
      report(job.operation, 'poll', started, answer.kind);
      if (answer.kind === 'aborted') throw new ProcessingAbortedError();
      return { kind: 'unanswered' };
    }
    report(job.operation, 'poll', started, String(answer.status));
    if (answer.status === 429 || answer.status >= 500) return { kind: 'unanswered' };
    if (answer.status !== 200) {
      const detail = errorText(answer.body);
      throw new PermanentProcessingError(`provider refused the status request (HTTP ${answer.status})${detail ? `: ${detail}` : ''}`);
    }
    const body = answer.body as Status | undefined;
    if (body?.status === 'complete') return { kind: 'complete', assetUrl: checkAssetUrl(body.asset_url, baseUrl).toString() };
    if (body?.status === 'failed') throw new PermanentProcessingError(errorText(body) ?? 'provider task failed');
    return { kind: 'running' }; // pending, processing, or an answer we do not understand
  }

  /** Until the next poll: the schedule counted from the submit, or its last step when that time is unknown. */
  const nextPoll = (submittedAt: number | null) =>
    submittedAt === null ? schedule[schedule.length - 1]! : nextPollDelay(schedule, Date.now() - submittedAt);

  /**
   * Polls once. A task still running ends the run with ProviderPendingError, due at the
   * schedule's next slot (never past the deadline, where one last poll is made). 429, 5xx,
   * timeouts and connection errors are rare: they back off in-process and poll again.
   */
  async function check(job: ProcessJob, taskId: string, submittedAt: number | null): Promise<string> {
    const path = `/tasks/${encodeURIComponent(taskId)}/status`;
    let failures = 0;
    for (;;) {
      const outcome = await pollOnce(job, path);
      if (outcome.kind === 'complete') return outcome.assetUrl;
      const remaining = job.deadline.getTime() - Date.now();
      if (remaining <= 0) throw new PermanentProcessingError('provider deadline exceeded');
      const next = nextPoll(submittedAt);
      if (outcome.kind === 'running') throw new ProviderPendingError(Math.min(next, remaining));
      failures++;
      await sleep(Math.min(Math.max(next, backoff(failures - 1, pollErrorBackoff)), remaining), job.signal);
    }
  }

  /**
   * Fetches the asset through the outbound-fetch helper: every hop's URL is
   * checked by checkAssetUrl and every address it connects to must be public
   * (the provider's own configured origin excepted), the size is capped while
   * streaming. 5xx, 429, timeouts and connection errors are retried.
   */
  async function download(job: ProcessJob, assetUrl: string): Promise<Buffer> {
    let lastError = '';
    for (let attempt = 0; attempt < downloadAttempts; attempt++) {
      if (attempt > 0) await sleep(backoff(attempt - 1, pollErrorBackoff), job.signal);
      const started = performance.now();
      try {
        const res = await outboundFetch(checkAssetUrl(assetUrl, baseUrl), {
          checkUrl: (url) => void checkAssetUrl(url.toString(), baseUrl),
          trustedOrigins: [providerOrigin],
          maxBytes: maxAssetBytes,
          timeoutMs: downloadTimeoutMs,
          maxRedirects: 3,
          ...(job.signal ? { signal: job.signal } : {}),
        });
        report(job.operation, 'download', started, res.status === 200 ? 'ok' : String(res.status));
        if (res.status === 200) return res.body;
        if (res.status >= 500 || res.status === 429) {
          lastError = `HTTP ${res.status}`;
          continue;
        }
        throw assetError(`asset download refused (HTTP ${res.status})`);
      } catch (err) {
        if (err instanceof PermanentProcessingError) throw err;
        if (job.signal?.aborted) {
          report(job.operation, 'download', started, 'aborted');
          throw new ProcessingAbortedError();
        }
        if (err instanceof OutboundTooLargeError) {
          report(job.operation, 'download', started, 'too_large');
          throw assetError(err.message.replace(/^body/, 'asset'));
        }
        if (err instanceof OutboundRefusedError) {
          report(job.operation, 'download', started, 'refused');
          throw assetError(`asset download refused: ${err.message}`);
        }
        const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
        report(job.operation, 'download', started, timedOut ? 'timeout' : 'connection');
        lastError = timedOut ? 'timeout' : `connection error (${(err as { code?: string }).code ?? (err as Error).name})`;
      }
    }
    throw new TransientProcessingError(`asset download failed: ${lastError}`);
  }

  const MAGIC: Array<(b: Buffer) => boolean> = [
    (b) => b.length > 8 && b.readUInt32BE(0) === 0x89504e47, // PNG
    (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff, // JPEG
    (b) => b.length > 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP', // WebP
  ];

  async function reencode(operation: Operation, bytes: Buffer): Promise<Buffer> {
    if (!MAGIC.some((m) => m(bytes))) throw new PermanentProcessingError('provider returned something that is not an image');
    try {
      const pipeline = sharp(bytes, { limitInputPixels: options.maxInputPixels, failOn: 'error' });
      const meta = await pipeline.metadata();
      if (!meta.width || !meta.height || !['png', 'jpeg', 'webp'].includes(meta.format ?? '')) {
        throw new Error(`unexpected format ${meta.format}`);
      }
      if (operation === 'remove-bg') pipeline.ensureAlpha();
      return await pipeline.png().toBuffer();
    } catch (err) {
      throw new PermanentProcessingError(`provider returned an invalid image: ${(err as Error).message}`);
    }
  }

  return {
    kind: 'makeit3d',
    async process(job: ProcessJob): Promise<Buffer> {
      throwIfAborted(job.signal);
      let taskId = job.providerTaskId;
      if (taskId === null) {
        if (Date.now() >= job.deadline.getTime()) throw new PermanentProcessingError('provider deadline exceeded');
        // A run before this one died while its submit was in flight: a task may exist that we can
        // never find, and submitting again would pay twice. Same outcome as a submit timeout.
        if (job.submitIntentRecorded) {
          throw new SubmitOutcomeUnknownError('a submit was in flight when the previous run stopped; not submitted again');
        }
        // The poll schedule of later runs counts from the stored intent, written just after this.
        const submittedAt = Date.now();
        await job.recordSubmitIntent?.();
        try {
          taskId = await submit(job);
        } catch (err) {
          // Refused, or never answered before any byte went out: no task exists, a later run may submit.
          if (!(err instanceof SubmitOutcomeUnknownError)) await job.clearSubmitIntent?.();
          throw err;
        }
        await job.saveProviderTaskId(taskId);
        throwIfAborted(job.signal);
        // Nothing to poll yet: this run ends, the first poll is the schedule's first slot.
        const remaining = job.deadline.getTime() - Date.now();
        if (remaining <= 0) throw new PermanentProcessingError('provider deadline exceeded');
        throw new ProviderPendingError(Math.min(nextPoll(submittedAt), remaining));
      }
      // A resumed run (a stored task id): poll at once.
      const assetUrl = await check(job, taskId, job.submittedAt?.getTime() ?? null);
      const bytes = await download(job, assetUrl);
      const png = await reencode(job.operation, bytes);
      // the provider cuts out; the finishing (background, framing, shadow, format) is ours
      if (job.operation !== 'remove-bg' || !job.finishing || isPlainFinishing(job.finishing)) return png;
      return (await applyFinishing(png, job.finishing)).data;
    },
  };
}
