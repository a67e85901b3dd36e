// The one way the UI talks to /api: JSON in, JSON out, errors as `ApiError`.

export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
  state?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly state?: string;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.field = body.field;
    this.state = body.state;
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

/** The value of cookie `name` in a `document.cookie` string. */
export function cookieValue(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

async function send(method: string, path: string, body: unknown, accept: string): Promise<string> {
  const headers: Record<string, string> = { accept };
  // Writes with the session cookie must echo the CSRF cookie, which only pages of this
  // origin can read.
  const csrf = typeof document === 'undefined' ? undefined : cookieValue(document.cookie, 'garrison_csrf');
  if (csrf && method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrf;
  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers,
  };
  if (body !== undefined) {
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
