// Admin → Alerts: the API's alert and rule shapes, queries, the rule editor's form (each
// kind with only its own parameters, defaults and units), where the API's errors go,
// selection and paging helpers, and words for alerts and rules. Pure, so it can be tested.

import { formErrors, type FormErrors } from './errors';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: Severity[] = ['info', 'warning', 'critical'];
export const SEVERITY_LABELS: Record<Severity, string> = { info: 'Info', warning: 'Warning', critical: 'Critical' };

export type AlertState = 'firing' | 'resolved';

export type RuleKind =
  | 'cpu'
  | 'memory'
  | 'disk'
  | 'crashed'
  | 'crash_loop'
  | 'stuck_starting'
  | 'backup_failed'
  | 'schedule_failed'
  | 'node_offline'
  | 'data_disk_low'
  | 'certificate_expiry';

export interface Alert {
  id: string;
  rule_id: string;
  kind: RuleKind | string;
  target: string;
  server_id: string | null;
  state: AlertState;
  severity: Severity;
  title: string;
  message: string;
  value: number | null;
  muted: boolean;
  fired_at: number;
  resolved_at: number | null;
  /** `auto`, a user id, or null while open. */
  resolved_by: string | null;
  notified_at: number | null;
}

export interface AlertPage {
  alerts: Alert[];
  next: string | null;
}

export interface AlertStats {
  firing: number;
  by_severity: Partial<Record<Severity, number>>;
  by_kind: Record<string, number>;
  resolved_24h: number;
}

export interface RuleParams {
  threshold?: number;
  duration_secs?: number;
  count?: number;
  window_secs?: number;
  days?: number;
}

export interface AlertRule {
  id: string;
  name: string;
  kind: RuleKind;
  server_id: string | null;
  params: RuleParams;
  severity: Severity;
  enabled: boolean;
  throttle_secs: number;
  created_at: number;
  updated_at: number;
}

export interface RuleBody {
  name: string;
  kind: RuleKind;
  server_id: string | null;
  params: RuleParams;
  severity: Severity;
  enabled: boolean;
  throttle_secs: number;
}

export type ParamKey = keyof RuleParams;

export interface ParamSpec {
  key: ParamKey;
  label: string;
  unit: string;
  default: number;
  min: number;
  max: number;
  step: number;
  hint?: string;
}

export interface KindSpec {
  kind: RuleKind;
  label: string;
  /** About the node's machine: no server. */
  node: boolean;
  params: ParamSpec[];
}

const DAY = 86_400;
const threshold = (def: number, hint: string): ParamSpec => ({ key: 'threshold', label: 'Threshold', unit: '%', default: def, min: 0, max: 10_000, step: 1, hint });
const duration = (def: number, label = 'For at least'): ParamSpec => ({ key: 'duration_secs', label, unit: 'seconds', default: def, min: 0, max: 7 * DAY, step: 1 });

export const RULE_KINDS: KindSpec[] = [
  { kind: 'cpu', label: 'CPU above a threshold', node: false, params: [threshold(90, 'Percent of one core (200 % = two cores busy).'), duration(300)] },
  { kind: 'memory', label: 'Memory above a threshold', node: false, params: [threshold(90, "Percent of the server's memory limit."), duration(300)] },
  { kind: 'disk', label: 'Disk above a threshold', node: false, params: [threshold(90, "Percent of the server's disk limit."), duration(0)] },
  { kind: 'crashed', label: 'Server crashed', node: false, params: [] },
  {
    kind: 'crash_loop',
    label: 'Crash loop',
    node: false,
    params: [
      { key: 'count', label: 'Crashes', unit: 'times', default: 3, min: 2, max: 100, step: 1 },
      { key: 'window_secs', label: 'Within', unit: 'seconds', default: 600, min: 60, max: 7 * DAY, step: 1 },
    ],
  },
  { kind: 'stuck_starting', label: 'Stuck starting', node: false, params: [duration(300, 'Starting for longer than')] },
  { kind: 'backup_failed', label: 'Backup failed', node: false, params: [] },
  { kind: 'schedule_failed', label: 'Schedule run failed', node: false, params: [] },
  { kind: 'node_offline', label: 'Node offline', node: true, params: [duration(60, 'Silent for longer than')] },
  { kind: 'data_disk_low', label: 'Data disk low', node: true, params: [{ ...threshold(10, 'Percent of the data disk still free.'), label: 'Free below', max: 100 }] },
  {
    kind: 'certificate_expiry',
    label: 'HTTPS certificate expiring',
    node: true,
    params: [{ key: 'days', label: 'Warn ahead', unit: 'days', default: 14, min: 1, max: 365, step: 1, hint: 'Only when Garrison serves HTTPS (tls_cert and tls_key).' }],
  },
];

export function kindSpec(kind: string): KindSpec | undefined {
  return RULE_KINDS.find((k) => k.kind === kind);
}

export const kindLabel = (kind: string) => kindSpec(kind)?.label ?? kind;

// ---- Queries ----

export interface AlertQuery {
  state?: AlertState;
  kind?: string;
  server?: string;
  limit?: number;
  before?: string | null;
}

/** `?state=firing&limit=50&before=…`, empty parts left out. */
export function alertsQuery(q: AlertQuery): string {
  const p = new URLSearchParams();
  if (q.state) p.set('state', q.state);
  if (q.kind) p.set('kind', q.kind);
  if (q.server) p.set('server', q.server);
  if (q.limit != null) p.set('limit', String(Math.min(200, Math.max(1, Math.floor(q.limit)))));
  if (q.before) p.set('before', q.before);
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const rulesApi = (id?: string) => (id ? `/alerts/rules/${encodeURIComponent(id)}` : '/alerts/rules');
export const resolveApi = (id: string) => `/alerts/${encodeURIComponent(id)}/resolve`;

/** A page appended to the list: alerts already shown (a fetch in between) are not doubled. */
export function appendPage(list: Alert[], page: Alert[]): Alert[] {
  const seen = new Set(list.map((a) => a.id));
  return [...list, ...page.filter((a) => !seen.has(a.id))];
}

/** Alerts that were resolved leave the Open list. */
export function withoutIds(list: Alert[], ids: Iterable<string>): Alert[] {
  const gone = new Set(ids);
  return list.filter((a) => !gone.has(a.id));
}

/** The selection with `id` flipped. */
export function toggled(selected: ReadonlySet<string>, id: string): Set<string> {
  const s = new Set(selected);
  if (s.has(id)) s.delete(id);
  else s.add(id);
  return s;
}

/** Only ids still in the list stay selected. */
export function pruneSelection(selected: ReadonlySet<string>, list: Alert[]): Set<string> {
  const ids = new Set(list.map((a) => a.id));
  return new Set([...selected].filter((id) => ids.has(id)));
}

export function allSelected(selected: ReadonlySet<string>, list: Alert[]): boolean {
  return list.length > 0 && list.every((a) => selected.has(a.id));
}

// ---- Words ----

/** "Server name" for a server alert (its id when unknown), "node" for the node's. */
export function targetLabel(a: Pick<Alert, 'server_id' | 'target'>, names: Record<string, string> = {}): string {
  if (!a.server_id) return 'node';
  return names[a.server_id] ?? a.server_id;
}

/** Who resolved it: "automatically", "you", a user's name, or "—" while open. */
export function resolvedByLabel(by: string | null, me?: string | null, names: Record<string, string> = {}): string {
  if (by == null) return '—';
  if (by === 'auto') return 'automatically';
  if (me && by === me) return 'you';
  return names[by] ?? by;
}

/** 90 → "1 min 30 s", 3600 → "1 h", 0 → "0 s". */
export function formatSecs(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  if (s === 0) return '0 s';
  const parts: string[] = [];
  const d = Math.floor(s / DAY);
  const h = Math.floor((s % DAY) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (r) parts.push(`${r} s`);
  return parts.join(' ');
}

/** One line about what a rule watches: "CPU above 90 % for 5 min". */
export function describeRule(r: Pick<AlertRule, 'kind' | 'params'>): string {
  const p = { ...defaultParams(r.kind), ...r.params };
  switch (r.kind) {
    case 'cpu':
    case 'memory':
    case 'disk': {
      const what = r.kind === 'cpu' ? 'CPU' : r.kind === 'memory' ? 'Memory' : 'Disk';
      const of = r.kind === 'cpu' ? '' : ' of the limit';
      return `${what} above ${p.threshold} %${of}${p.duration_secs ? ` for ${formatSecs(p.duration_secs)}` : ''}`;
    }
    case 'crash_loop':
      return `${p.count} crashes within ${formatSecs(p.window_secs ?? 0)}`;
    case 'stuck_starting':
      return `Starting for longer than ${formatSecs(p.duration_secs ?? 0)}`;
    case 'node_offline':
      return `Node silent for longer than ${formatSecs(p.duration_secs ?? 0)}`;
    case 'data_disk_low':
      return `Data disk below ${p.threshold} % free`;
    case 'certificate_expiry':
      return `HTTPS certificate ends within ${p.days} ${p.days === 1 ? 'day' : 'days'}`;
    default:
      return kindLabel(r.kind);
  }
}

// ---- The rule editor ----

export interface RuleForm {
  name: string;
  kind: RuleKind;
  /** '' = every server. */
  server: string;
  /** As typed; only the kind's own are sent. */
  params: Record<ParamKey, number | null>;
  severity: Severity;
  enabled: boolean;
  throttle_secs: number | null;
}

export function defaultParams(kind: string): RuleParams {
  const out: RuleParams = {};
  for (const p of kindSpec(kind)?.params ?? []) out[p.key] = p.default;
  return out;
}

const emptyParams = (): Record<ParamKey, number | null> => ({ threshold: null, duration_secs: null, count: null, window_secs: null, days: null });

export function newRuleForm(kind: RuleKind = 'crashed'): RuleForm {
  return { name: '', kind, server: '', params: { ...emptyParams(), ...defaultParams(kind) }, severity: 'warning', enabled: true, throttle_secs: 300 };
}

export function ruleFormFrom(r: AlertRule): RuleForm {
  return {
    name: r.name,
    kind: r.kind,
    server: r.server_id ?? '',
    params: { ...emptyParams(), ...defaultParams(r.kind), ...r.params },
    severity: r.severity,
    enabled: r.enabled,
    throttle_secs: r.throttle_secs,
  };
}

/** The form after another kind is chosen: that kind's defaults, no server for a node rule. */
export function switchKind(f: RuleForm, kind: RuleKind): RuleForm {
  const spec = kindSpec(kind);
  return { ...f, kind, server: spec?.node ? '' : f.server, params: { ...emptyParams(), ...defaultParams(kind) } };
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** What to send: only the kind's parameters, a server only for server rules. */
export function ruleBody(f: RuleForm): RuleBody {
  const spec = kindSpec(f.kind);
  const params: RuleParams = {};
  for (const p of spec?.params ?? []) {
    const v = f.params[p.key];
    if (isNum(v)) params[p.key] = p.key === 'threshold' ? v : Math.round(v);
  }
  return {
    name: f.name.trim(),
    kind: f.kind,
    server_id: spec?.node || !f.server ? null : f.server,
    params,
    severity: f.severity,
    enabled: f.enabled,
    throttle_secs: isNum(f.throttle_secs) ? Math.round(f.throttle_secs) : 300,
  };
}

/**
 * What the browser checks before sending: a name, and a number in every parameter
 * input. Ranges are the API's to judge (its 422 comes back under the input).
 */
export function validateRule(f: RuleForm): Record<string, string> {
  const out: Record<string, string> = {};
  if (!f.name.trim()) out.name = 'Give the rule a name.';
  else if (f.name.trim().length > 100) out.name = 'At most 100 characters.';
  for (const p of kindSpec(f.kind)?.params ?? []) {
    if (!isNum(f.params[p.key])) out[`params.${p.key}`] = 'Enter a number.';
  }
  if (!isNum(f.throttle_secs) || f.throttle_secs < 0) out.throttle_secs = 'Enter a number of seconds.';
  return out;
}

export const RULE_FIELDS = ['name', 'kind', 'severity', 'server_id', 'throttle_secs', 'params', 'params.threshold', 'params.duration_secs', 'params.count', 'params.window_secs', 'params.days'];

/** A save's error under the input it names (`params.threshold`, `server_id`, …). */
export function ruleErrors(err: unknown): FormErrors {
  return formErrors(err, RULE_FIELDS);
}
