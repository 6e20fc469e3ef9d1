import { ApiError, authHeaders, CREDENTIALS, type ErrorBody, retryAfterMs, waitForRateLimit } from './http';

/**
 * One multipart POST with upload progress (fetch cannot report it, so this is
 * XMLHttpRequest), with the same credentials and 429 rule as every other call.
 */
export async function postForm<T>(
  path: string,
  form: FormData,
  opts: { onProgress?: (fraction: number) => void; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...opts.headers, ...(await authHeaders()) };
    const { status, body, retryAfter } = await new Promise<{ status: number; body: unknown; retryAfter: string | null }>(
      (resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', path);
        xhr.withCredentials = CREDENTIALS !== 'omit';
        xhr.responseType = 'json';
        for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
        xhr.upload.onprogress = (e) => e.lengthComputable && opts.onProgress?.(e.loaded / e.total);
        xhr.onload = () => resolve({ status: xhr.status, body: xhr.response, retryAfter: xhr.getResponseHeader('retry-after') });
        xhr.onerror = () => reject(new ApiError(0, { error: 'Could not reach the app server', code: 'NETWORK' }));
        xhr.onabort = () => reject(new DOMException('Aborted', 'AbortError'));
        opts.signal?.addEventListener('abort', () => xhr.abort(), { once: true });
        xhr.send(form);
      },
    );
    if (status === 429 && attempt < 5) {
      opts.onProgress?.(0);
      await waitForRateLimit(retryAfterMs(retryAfter));
      continue;
    }
    if (status >= 200 && status < 300) return body as T;
    const error = (body && typeof body === 'object' ? body : { error: `HTTP ${status}` }) as ErrorBody;
    throw new ApiError(status, error, retryAfter ? retryAfterMs(retryAfter) / 1000 : null);
  }
}
