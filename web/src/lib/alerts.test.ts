import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import {
  RULE_KINDS,
  alertsQuery,
  allSelected,
  appendPage,
  describeRule,
  formatSecs,
  kindSpec,
  newRuleForm,
  pruneSelection,
  resolvedByLabel,
  ruleBody,
  ruleErrors,
  ruleFormFrom,
  switchKind,
  targetLabel,
  toggled,
  validateRule,
  withoutIds,
  type Alert,
  type AlertRule,
} from './alerts';
import { parseRoute } from './routes';

const alert = (id: string, over: Partial<Alert> = {}): Alert => ({
  id,
  rule_id: 'r1',
  kind: 'crashed',
  target: 's1',
  server_id: 's1',
  state: 'firing',
  severity: 'warning',
  title: 'Crashed',
  message: 'exited',
  value: null,
  muted: false,
  fired_at: 1,
  resolved_at: null,
  resolved_by: null,
  notified_at: null,
  ...over,
});

describe('routes', () => {
  it('has the alert and notification pages and the players tab', () => {
    expect(parseRoute('/admin/alerts')).toEqual({ page: 'admin-alerts' });
    expect(parseRoute('/admin/notifications')).toEqual({ page: 'admin-channels' });
    expect(parseRoute('/servers/abc/players')).toEqual({ page: 'server', id: 'abc', tab: 'players' });
  });
});

describe('alertsQuery', () => {
  it('leaves out empty parts and clamps the limit', () => {
    expect(alertsQuery({})).toBe('');
    expect(alertsQuery({ state: 'firing', limit: 500 })).toBe('?state=firing&limit=200');
    expect(alertsQuery({ state: 'resolved', limit: 0, before: 'abc=' })).toBe('?state=resolved&limit=1&before=abc%3D');
    expect(alertsQuery({ kind: 'cpu', server: 's 1' })).toBe('?kind=cpu&server=s+1');
  });
});

describe('lists and selection', () => {
  it('appends a page without doubling', () => {
    expect(appendPage([alert('a'), alert('b')], [alert('b'), alert('c')]).map((a) => a.id)).toEqual(['a', 'b', 'c']);
  });
  it('drops resolved ones and prunes the selection', () => {
    const list = withoutIds([alert('a'), alert('b')], ['a']);
    expect(list.map((a) => a.id)).toEqual(['b']);
    expect([...pruneSelection(new Set(['a', 'b']), list)]).toEqual(['b']);
  });
  it('toggles and tells whether all are selected', () => {
    let s = toggled(new Set(), 'a');
    expect(allSelected(s, [alert('a')])).toBe(true);
    expect(allSelected(s, [alert('a'), alert('b')])).toBe(false);
    s = toggled(s, 'a');
    expect(s.size).toBe(0);
    expect(allSelected(new Set(), [])).toBe(false);
  });
});

describe('words', () => {
  it('names the target', () => {
    expect(targetLabel(alert('a'), { s1: 'Lobby' })).toBe('Lobby');
    expect(targetLabel(alert('a'))).toBe('s1');
    expect(targetLabel(alert('a', { server_id: null, target: 'local' }))).toBe('node');
  });
  it('says who resolved', () => {
    expect(resolvedByLabel(null)).toBe('—');
    expect(resolvedByLabel('auto', 'u1')).toBe('automatically');
    expect(resolvedByLabel('u1', 'u1')).toBe('you');
    expect(resolvedByLabel('u2', 'u1', { u2: 'bob' })).toBe('bob');
    expect(resolvedByLabel('u3', 'u1')).toBe('u3');
  });
  it('formats seconds', () => {
    expect(formatSecs(0)).toBe('0 s');
    expect(formatSecs(90)).toBe('1 min 30 s');
    expect(formatSecs(3600)).toBe('1 h');
    expect(formatSecs(86_400 + 60)).toBe('1 d 1 min');
  });
  it('describes rules with defaults filled in', () => {
    expect(describeRule({ kind: 'cpu', params: {} })).toBe('CPU above 90 % for 5 min');
    expect(describeRule({ kind: 'memory', params: { threshold: 80, duration_secs: 60 } })).toBe('Memory above 80 % of the limit for 1 min');
    expect(describeRule({ kind: 'disk', params: {} })).toBe('Disk above 90 % of the limit');
    expect(describeRule({ kind: 'crash_loop', params: { count: 5 } })).toBe('5 crashes within 10 min');
    expect(describeRule({ kind: 'data_disk_low', params: {} })).toBe('Data disk below 10 % free');
    expect(describeRule({ kind: 'certificate_expiry', params: {} })).toBe('HTTPS certificate ends within 14 days');
    expect(describeRule({ kind: 'certificate_expiry', params: { days: 1 } })).toBe('HTTPS certificate ends within 1 day');
    expect(describeRule({ kind: 'crashed', params: {} })).toBe('Server crashed');
  });
});

describe('the rule form', () => {
  it('knows every kind with its parameters', () => {
    expect(RULE_KINDS.map((k) => k.kind)).toEqual(['cpu', 'memory', 'disk', 'crashed', 'crash_loop', 'stuck_starting', 'backup_failed', 'schedule_failed', 'node_offline', 'data_disk_low', 'certificate_expiry']);
    expect(kindSpec('crash_loop')?.params.map((p) => p.key)).toEqual(['count', 'window_secs']);
    expect(kindSpec('node_offline')?.node).toBe(true);
  });
  it('sends only the kind’s parameters', () => {
    let f = newRuleForm('cpu');
    f.name = ' High CPU ';
    f.server = 's1';
    expect(ruleBody(f)).toEqual({ name: 'High CPU', kind: 'cpu', server_id: 's1', params: { threshold: 90, duration_secs: 300 }, severity: 'warning', enabled: true, throttle_secs: 300 });
    f = switchKind(f, 'crashed');
    expect(ruleBody(f).params).toEqual({});
    expect(ruleBody(f).server_id).toBe('s1');
    f = switchKind(f, 'crash_loop');
    expect(ruleBody(f).params).toEqual({ count: 3, window_secs: 600 });
  });
  it('sends no server for node rules nor for every server', () => {
    const f = newRuleForm('cpu');
    expect(ruleBody(f).server_id).toBeNull();
    f.server = 's1';
    const n = switchKind(f, 'data_disk_low');
    expect(n.server).toBe('');
    expect(ruleBody({ ...n, server: 's1' }).server_id).toBeNull();
    expect(ruleBody(n).params).toEqual({ threshold: 10 });
  });
  it('reads a rule back, defaults where it left them out', () => {
    const r: AlertRule = { id: 'r', name: 'x', kind: 'cpu', server_id: null, params: { threshold: 150 }, severity: 'critical', enabled: false, throttle_secs: 60, created_at: 0, updated_at: 0 };
    const f = ruleFormFrom(r);
    expect(f.params.threshold).toBe(150);
    expect(f.params.duration_secs).toBe(300);
    expect(ruleBody(f)).toMatchObject({ severity: 'critical', enabled: false, throttle_secs: 60, params: { threshold: 150, duration_secs: 300 } });
  });
  it('checks names and numbers, leaves ranges to the API', () => {
    const f = newRuleForm('cpu');
    f.params.threshold = null;
    expect(validateRule(f)).toEqual({ name: 'Give the rule a name.', 'params.threshold': 'Enter a number.' });
    f.name = 'x';
    f.params.threshold = 20_000;
    expect(validateRule(f)).toEqual({});
    f.throttle_secs = null;
    expect(validateRule(f).throttle_secs).toBeTruthy();
  });
  it('puts the API’s errors under the input', () => {
    const e = new ApiError(422, { code: 'invalid', message: 'a threshold is a percentage from 0 to 10000', field: 'params.threshold' });
    expect(ruleErrors(e)).toEqual({ fields: { 'params.threshold': 'a threshold is a percentage from 0 to 10000' }, general: null });
    const other = new ApiError(422, { code: 'invalid', message: 'no', field: 'weird' });
    expect(ruleErrors(other)).toEqual({ fields: {}, general: 'no' });
  });
});
