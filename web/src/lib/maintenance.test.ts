import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import {
  MAX_MINUTES,
  actionsLabel,
  formatMinutes,
  newWindowForm,
  scopeLabel,
  serverNotice,
  stateLabel,
  validateWindow,
  windowBody,
  windowErrors,
  windowFormFrom,
  windowsApi,
  type MaintenanceWindow,
} from './maintenance';

const stored: MaintenanceWindow = {
  id: 'w1',
  server_id: 's1',
  name: 'Nightly',
  cron: '0 4 * * *',
  timezone: 'Europe/Berlin',
  duration_secs: 5400,
  stop_at_start: true,
  start_at_end: false,
  enabled: true,
  created_at: 1,
  updated_at: 2,
  open: false,
  open_since: null,
  next_start: Date.UTC(2026, 11, 3, 3, 0),
};

describe('maintenance windows', () => {
  it('sends only what the API takes, the duration in seconds', () => {
    const f = { ...newWindowForm('UTC'), name: '  Patch day ', cron: ' @weekly ', minutes: 90 };
    expect(windowBody(f)).toEqual({
      name: 'Patch day',
      server_id: null,
      cron: '@weekly',
      timezone: 'UTC',
      duration_secs: 5400,
      stop_at_start: false,
      start_at_end: false,
      enabled: true,
    });
    expect(windowBody({ ...f, server: 's1' }).server_id).toBe('s1');
  });

  it('round-trips a stored window through the form without read-only fields', () => {
    const body = windowBody(windowFormFrom(stored));
    expect(body).toEqual({
      name: 'Nightly',
      server_id: 's1',
      cron: '0 4 * * *',
      timezone: 'Europe/Berlin',
      duration_secs: 5400,
      stop_at_start: true,
      start_at_end: false,
      enabled: true,
    });
    expect(Object.keys(body)).not.toContain('open');
    expect(Object.keys(body)).not.toContain('next_start');
  });

  it('checks name, cron and the duration range before sending', () => {
    expect(validateWindow(newWindowForm())).toEqual({ name: 'Give the window a name.' });
    const ok = { ...newWindowForm(), name: 'x' };
    expect(validateWindow(ok)).toEqual({});
    expect(validateWindow({ ...ok, cron: ' ' }).cron).toBeTruthy();
    expect(validateWindow({ ...ok, minutes: 0 }).duration_secs).toContain('7 days');
    expect(validateWindow({ ...ok, minutes: MAX_MINUTES + 1 }).duration_secs).toBeTruthy();
    expect(validateWindow({ ...ok, minutes: MAX_MINUTES })).toEqual({});
    expect(validateWindow({ ...ok, minutes: null }).duration_secs).toBe('Enter a number of minutes.');
    expect(validateWindow({ ...ok, name: 'n'.repeat(101) }).name).toBe('At most 100 characters.');
  });

  it("puts the API's errors under the field they name", () => {
    const e = new ApiError(422, { code: 'invalid', message: 'not a cron expression', field: 'cron' });
    expect(windowErrors(e)).toEqual({ fields: { cron: 'not a cron expression' }, general: null });
    const other = new ApiError(422, { code: 'invalid', message: 'no', field: 'weird' });
    expect(windowErrors(other)).toEqual({ fields: {}, general: 'no' });
  });

  it('words for scope, state, duration and actions', () => {
    expect(scopeLabel(stored, { s1: 'Survival' })).toBe('Survival');
    expect(scopeLabel({ server_id: null }, {})).toBe('Whole node');
    expect(scopeLabel(stored, {})).toBe('s1');
    expect(stateLabel({ ...stored, enabled: false })).toBe('Disabled');
    expect(stateLabel(stored, 'UTC', 'en-GB')).toBe('Next: Thu, 3 Dec 2026, 03:00');
    expect(stateLabel({ ...stored, open: true, open_since: Date.UTC(2026, 11, 2, 3, 0) }, 'UTC', 'en-GB')).toBe('Open since Wed, 2 Dec 2026, 03:00');
    expect(stateLabel({ ...stored, next_start: null })).toBe('Never opens');
    expect(formatMinutes(90)).toBe('1 h 30 min');
    expect(formatMinutes(1440)).toBe('1 day');
    expect(formatMinutes(10080)).toBe('7 days');
    expect(formatMinutes(0)).toBe('0 min');
    expect(actionsLabel(stored)).toBe('mutes alerts, stops servers when it opens');
    expect(actionsLabel({ stop_at_start: false, start_at_end: false })).toBe('mutes alerts');
    expect(windowsApi()).toBe('/admin/maintenance');
    expect(windowsApi('a b')).toBe('/admin/maintenance/a%20b');
  });

  it("tells a server's page about an open window, or one opening within a day", () => {
    const now = Date.UTC(2026, 11, 2, 12, 0);
    const open = { ...stored, id: 'o', name: 'Now', open: true, open_since: now - 600_000, duration_secs: 3600 };
    expect(serverNotice([stored, open], now)).toEqual({ kind: 'open', name: 'Now', until: now - 600_000 + 3_600_000, stops: true });
    const soon = { ...stored, next_start: now + 3_600_000 };
    expect(serverNotice([soon], now)).toEqual({ kind: 'soon', name: 'Nightly', at: now + 3_600_000, stops: true });
    expect(serverNotice([{ ...soon, next_start: now + 25 * 3_600_000 }], now)).toBeNull();
    expect(serverNotice([{ ...open, enabled: false }], now)).toBeNull();
    expect(serverNotice([], now)).toBeNull();
  });
});
