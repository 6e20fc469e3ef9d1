import { apiFetch, errorOf } from './api/http';

/**
 * Saves a stored file through GET /fileserve/download, with the same
 * credentials as every call (a plain link would need the cookie, which the
 * embedded page never has).
 */
export async function downloadFile(path: string, fallbackName: string): Promise<void> {
  const response = await apiFetch(new Request(`/fileserve/download?path=${encodeURIComponent(path)}`));
  if (!response.ok) throw await errorOf(response);
  const disposition = response.headers.get('content-disposition') ?? '';
  const name = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1] ?? /filename="([^"]+)"/i.exec(disposition)?.[1];
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name ? decodeURIComponent(name) : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
