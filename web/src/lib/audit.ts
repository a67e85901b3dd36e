// The audit log's query string and display helpers (server activity and admin audit).
import type { AuditEntry } from './types';

export interface AuditFilters {
  action?: string;
  user_id?: string;
  server?: string;
  /** `YYYY-MM-DD` from a date input: from the start of that local day. */
  from?: string;
  /** `YYYY-MM-DD`: up to the end of that local day. */
  to?: string;
}

/** Known action prefixes, offered as suggestions in the filter. */
export const ACTION_PREFIXES = [
  'auth',
  'auth.login',
  'auth.login_failed',
  'server',
  'server.power',
  'server.command',
  'server.update',
  'server.subuser',
  'server.create',
  'server.delete',
  'user',
  'user.create',
  'user.update',
  'user.delete',
  'api_key',
  'session',
  'settings',
];

/** Unix millis at the start of a local `YYYY-MM-DD` day (`endOfDay`: the next day's start). */
export function dayToMillis(day: string, endOfDay = false): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day.trim());
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (endOfDay ? 1 : 0));
  const t = d.getTime();
  return Number.isFinite(t) ? t : null;
}

/**
 * The query string for one page: empty filters are left out, dates become the API's
 * `from`/`to` millis (`to` exclusive, so the whole last day is in).
 */
export function auditQuery(filters: AuditFilters, opts: { limit?: number; before?: number | null } = {}): string {
  const q = new URLSearchParams();
  if (opts.limit) q.set('limit', String(opts.limit));
  if (opts.before != null) q.set('before', String(opts.before));
  const action = filters.action?.trim().replace(/\.\*?$/, '');
  if (action) q.set('action', action);
  const user = filters.user_id?.trim();
  if (user) q.set('user_id', user);
  const server = filters.server?.trim();
  if (server) q.set('server', server);
  const from = filters.from ? dayToMillis(filters.from) : null;
  if (from != null) q.set('from', String(from));
  const to = filters.to ? dayToMillis(filters.to, true) : null;
  if (to != null) q.set('to', String(to));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Who did it: the username, else the user id, else Garrison itself. */
export function actor(e: Pick<AuditEntry, 'username' | 'user_id'>): string {
  return e.username ?? e.user_id ?? 'Garrison';
}

/** "session", "API key k1…", "console" … from the entry's `via`. */
export function viaLabel(via: string | null | undefined): string | null {
  if (!via) return null;
  if (via.startsWith('key:')) return `API key ${via.slice(4)}`;
  if (via === 'ticket') return 'console';
  return via;
}

/** The detail object as short `key: value` pairs (nested values as JSON). */
export function detailPairs(detail: unknown): [string, string][] {
  if (detail == null || typeof detail !== 'object' || Array.isArray(detail)) {
    return detail == null ? [] : [['detail', JSON.stringify(detail)]];
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(detail as Record<string, unknown>)) {
    if (v == null) continue;
    const s = typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(', ') : JSON.stringify(v);
    out.push([k, s]);
  }
  return out;
}
