// The one way the UI talks to /api: JSON in, JSON out, errors as `ApiError`.

export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
  state?: string;
  /** The file a file operation failed on. */
  path?: string;
  /** Seconds to wait, with `rate_limited`. */
  retry_after?: number;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly state?: string;
  readonly path?: string;
  readonly retryAfter?: number;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.field = body.field;
    this.state = body.state;
    this.path = body.path;
    this.retryAfter = typeof body.retry_after === 'number' ? body.retry_after : undefined;
  }
}

/** Builds an ApiError from any HTTP answer, whether or not it carries the JSON shape. */
export function toApiError(status: number, payload: unknown): ApiError {
  const e = (payload as { error?: Partial<ApiErrorBody> } | null)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    return new ApiError(status, e as ApiErrorBody);
  }
  const message =
    status === 0
      ? 'Garrison cannot be reached. Check your connection.'
      : `Unexpected answer from Garrison (HTTP ${status})`;
  return new ApiError(status, { code: status === 0 ? 'network' : 'http', message });
}

/**
 * A 401 that means "you are not logged in" (as opposed to a wrong password typed into
 * a form, which is `invalid_credentials`).
 */
export function isSessionLost(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401 && err.code !== 'invalid_credentials';
}

let onUnauthorized: () => void = () => {};

/** Called whenever the API says the session is gone. */
export function setUnauthorizedHandler(fn: () => void) {
  onUnauthorized = fn;
}

/** For answers that did not come through `api` (uploads): a lost session goes to the login page. */
export function noticeSessionLost(err: unknown) {
  if (isSessionLost(err)) onUnauthorized();
}

/** The value of cookie `name` in a `document.cookie` string. */
export function cookieValue(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * Writes with the session cookie must echo the CSRF cookie, which only pages of this
 * origin can read. For requests made without `api` (XMLHttpRequest uploads).
 */
export function csrfHeaders(method: string): Record<string, string> {
  const csrf = typeof document === 'undefined' ? undefined : cookieValue(document.cookie, 'garrison_csrf');
  return csrf && method !== 'GET' && method !== 'HEAD' ? { 'x-csrf-token': csrf } : {};
}

/** A body sent as it is (a file's text), not as JSON. */
export class RawBody {
  constructor(
    readonly data: string | Blob,
    readonly contentType = 'text/plain; charset=utf-8',
  ) {}
}

async function send(method: string, path: string, body: unknown, accept: string): Promise<string> {
  const headers: Record<string, string> = { accept, ...csrfHeaders(method) };
  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers,
  };
  if (body instanceof RawBody) {
    headers['content-type'] = body.contentType;
    init.body = body.data;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(`/api${path}`, init);
  } catch {
    throw toApiError(0, null);
  }
  const text = await res.text();
  if (!res.ok) {
    let payload: unknown = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    const err = toApiError(res.status, payload);
    if (isSessionLost(err)) onUnauthorized();
    throw err;
  }
  return text;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const text = await send(method, path, body, 'application/json');
  let payload: unknown = null;
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = null;
    }
  }
  return payload as T;
}

/** A GET whose answer is a file's text (an exported template), not JSON. */
export const getText = (path: string) => send('GET', path, undefined, '*/*');

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const patch = <T>(path: string, body: unknown) => api<T>('PATCH', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);
/** PUT of a raw text body (a file's new content); the answer is JSON. */
export const putText = <T>(path: string, text: string) => api<T>('PUT', path, new RawBody(text));
