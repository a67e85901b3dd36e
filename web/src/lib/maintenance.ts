// Admin → Alerts → Maintenance windows: the API's window shape, the editor's form (the
// duration typed in minutes), what the browser checks before sending, where the API's
// errors go, and words for a window's scope and state. Pure, so it can be tested.

import { formErrors, type FormErrors } from './errors';
import { formatLocal } from './schedules';

/** The API's limits (`api/maintenance.rs`): 1 minute to 7 days. */
export const MIN_MINUTES = 1;
export const MAX_MINUTES = 7 * 24 * 60;

export interface MaintenanceWindow {
  id: string;
  /** null: the whole node (every server and the node's own alerts). */
  server_id: string | null;
  name: string;
  cron: string;
  timezone: string;
  duration_secs: number;
  stop_at_start: boolean;
  start_at_end: boolean;
  enabled: boolean;
  created_at: number;
  updated_at: number;
  open: boolean;
  open_since: number | null;
  next_start: number | null;
}

export interface WindowBody {
  name: string;
  server_id: string | null;
  cron: string;
  timezone: string;
  duration_secs: number;
  stop_at_start: boolean;
  start_at_end: boolean;
  enabled: boolean;
}

export interface WindowForm {
  name: string;
  /** '' = the whole node. */
  server: string;
  cron: string;
  timezone: string;
  minutes: number | null;
  stop_at_start: boolean;
  start_at_end: boolean;
  enabled: boolean;
}

export function windowsApi(id?: string): string {
  return id ? `/admin/maintenance/${encodeURIComponent(id)}` : '/admin/maintenance';
}

export function newWindowForm(timezone = 'UTC'): WindowForm {
  return { name: '', server: '', cron: '0 4 * * *', timezone, minutes: 60, stop_at_start: false, start_at_end: false, enabled: true };
}

export function windowFormFrom(w: MaintenanceWindow): WindowForm {
  return {
    name: w.name,
    server: w.server_id ?? '',
    cron: w.cron,
    timezone: w.timezone,
    minutes: Math.round(w.duration_secs / 60),
    stop_at_start: w.stop_at_start,
    start_at_end: w.start_at_end,
    enabled: w.enabled,
  };
}

/** What to send: only the fields the API takes (it refuses the read-only ones). */
export function windowBody(f: WindowForm): WindowBody {
  return {
    name: f.name.trim(),
    server_id: f.server || null,
    cron: f.cron.trim(),
    timezone: f.timezone || 'UTC',
    duration_secs: Math.round((f.minutes ?? 0) * 60),
    stop_at_start: f.stop_at_start,
    start_at_end: f.start_at_end,
    enabled: f.enabled,
  };
}

/** What the browser checks first; the cron and the zone are the API's to judge. */
export function validateWindow(f: WindowForm): Record<string, string> {
  const out: Record<string, string> = {};
  if (!f.name.trim()) out.name = 'Give the window a name.';
  else if (f.name.trim().length > 100) out.name = 'At most 100 characters.';
  if (!f.cron.trim()) out.cron = 'When does it open? For example 0 4 * * * (04:00 every day).';
  const m = f.minutes;
  if (typeof m !== 'number' || !Number.isFinite(m)) out.duration_secs = 'Enter a number of minutes.';
  else if (m < MIN_MINUTES || m > MAX_MINUTES) out.duration_secs = `From ${MIN_MINUTES} minute to 7 days (${MAX_MINUTES} minutes).`;
  return out;
}

export const WINDOW_FIELDS = ['name', 'server_id', 'cron', 'timezone', 'duration_secs'];

export function windowErrors(err: unknown): FormErrors {
  return formErrors(err, WINDOW_FIELDS);
}

export function scopeLabel(w: Pick<MaintenanceWindow, 'server_id'>, names: Record<string, string>): string {
  return w.server_id ? (names[w.server_id] ?? w.server_id) : 'Whole node';
}

/** 90 → "1 h 30 min", 1440 → "1 day". */
export function formatMinutes(minutes: number): string {
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const parts: string[] = [];
  if (d) parts.push(d === 1 ? '1 day' : `${d} days`);
  if (h) parts.push(`${h} h`);
  if (m || parts.length === 0) parts.push(`${m} min`);
  return parts.join(' ');
}

/** "Open since …", "Next: …", or "Disabled" (times in the user's zone). */
export function stateLabel(w: Pick<MaintenanceWindow, 'enabled' | 'open' | 'open_since' | 'next_start'>, zone?: string, locale?: string): string {
  if (!w.enabled) return 'Disabled';
  if (w.open) return `Open since ${formatLocal(w.open_since, zone, locale)}`;
  return w.next_start == null ? 'Never opens' : `Next: ${formatLocal(w.next_start, zone, locale)}`;
}

/** What the window does besides muting alerts. */
export function actionsLabel(w: Pick<MaintenanceWindow, 'stop_at_start' | 'start_at_end'>): string {
  const parts = ['mutes alerts'];
  if (w.stop_at_start) parts.push('stops servers when it opens');
  if (w.start_at_end) parts.push('starts them when it closes');
  return parts.join(', ');
}

export type ServerNotice = { kind: 'open'; name: string; until: number; stops: boolean } | { kind: 'soon'; name: string; at: number; stops: boolean };

/** How far ahead a server's page mentions its next window. */
export const SOON_MS = 24 * 3600_000;

/**
 * What a server's page says about the windows that apply to it: the open one (the one
 * open longest if several), or else the next to open within a day; null otherwise.
 */
export function serverNotice(windows: MaintenanceWindow[], now = Date.now()): ServerNotice | null {
  const on = windows.filter((w) => w.enabled);
  const open = on.filter((w) => w.open && w.open_since != null).sort((a, b) => (a.open_since ?? 0) - (b.open_since ?? 0))[0];
  if (open) return { kind: 'open', name: open.name, until: (open.open_since ?? now) + open.duration_secs * 1000, stops: open.stop_at_start };
  const next = on.filter((w) => w.next_start != null && w.next_start - now <= SOON_MS).sort((a, b) => (a.next_start ?? 0) - (b.next_start ?? 0))[0];
  return next ? { kind: 'soon', name: next.name, at: next.next_start ?? now, stops: next.stop_at_start } : null;
}
