// The Schedules tab's logic: the cron builder's presets (to an expression and back),
// the task chain as the editor holds it and as the API takes it (default tasks, fields
// an action does not take stripped, the API's rules checked before sending), one-line
// task descriptions, durations, times in the user's zone and where the API's errors go.
// Pure, so it can be tested.

import { ApiError } from './api';
import { formErrors, type FormErrors } from './errors';
import type {
  MissedPolicy,
  PowerAction,
  RunOutcome,
  Schedule,
  ScheduleBody,
  ScheduleRun,
  ScheduleTask,
  ScheduleTrigger,
  ServerState,
  TaskAction,
} from './types';

export const MAX_TASKS = 20;
export const MAX_TASK_SECS = 86_400;
export const MAX_NAME = 100;
export const MAX_COMMAND_BYTES = 4096;
export const MAX_PATTERN = 500;
export const MIN_INTERVAL_SECS = 60;
export const MAX_INTERVAL_SECS = 366 * 86_400;

export const TASK_ACTIONS: TaskAction[] = ['command', 'power', 'backup', 'wait_for', 'delay'];
export const POWER_ACTIONS: PowerAction[] = ['start', 'stop', 'restart', 'kill'];
export const WAIT_STATES: ServerState[] = ['running', 'offline', 'starting', 'stopping', 'crashed'];

export const ACTION_LABELS: Record<TaskAction, string> = {
  command: 'Send a command',
  power: 'Power action',
  backup: 'Make a backup',
  wait_for: 'Wait for',
  delay: 'Wait a while',
};

/** `/api/servers/{id}/schedules[/{sid}][suffix]`, relative to `/api`. */
export function schedulesApi(serverId: string, scheduleId?: string, suffix = ''): string {
  const base = `/servers/${encodeURIComponent(serverId)}/schedules`;
  return scheduleId ? `${base}/${encodeURIComponent(scheduleId)}${suffix}` : base;
}

export interface ScheduleAbilities {
  read: boolean;
  create: boolean;
  update: boolean;
  delete: boolean;
}

export function scheduleAbilities(perms: string[] | undefined): ScheduleAbilities {
  const has = (p: string) => !!perms?.includes(p);
  return { read: has('schedule.read'), create: has('schedule.create'), update: has('schedule.update'), delete: has('schedule.delete') };
}

// ---- The cron builder ----

export type CronPreset = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'custom';

export const CRON_PRESETS: { value: CronPreset; label: string }[] = [
  { value: 'hourly', label: 'Every hour' },
  { value: 'daily', label: 'Every day' },
  { value: 'weekly', label: 'Every week' },
  { value: 'monthly', label: 'Every month' },
  { value: 'custom', label: 'Custom expression' },
];

export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export interface CronForm {
  preset: CronPreset;
  /** Minute past the hour, for `hourly`. */
  minute: number;
  /** `HH:MM`, for daily, weekly and monthly. */
  time: string;
  /** 0 = Sunday, for weekly. */
  weekday: number;
  /** 1 to 31, for monthly. */
  day: number;
  /** For custom. */
  expression: string;
}

export const defaultCronForm = (): CronForm => ({ preset: 'daily', minute: 0, time: '04:00', weekday: 1, day: 1, expression: '0 4 * * *' });

/** `"04:30"` → `[4, 30]`; null when it is not a time of day. */
export function parseTime(s: string): [number, number] | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  return h <= 23 && min <= 59 ? [h, min] : null;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** The expression the preset form stands for (custom: the expression as typed, trimmed). */
export function buildCron(f: CronForm): string {
  if (f.preset === 'custom') return f.expression.trim();
  if (f.preset === 'hourly') return `${clampInt(f.minute, 0, 59)} * * * *`;
  const [h, m] = parseTime(f.time) ?? [0, 0];
  if (f.preset === 'daily') return `${m} ${h} * * *`;
  if (f.preset === 'weekly') return `${m} ${h} * * ${clampInt(f.weekday, 0, 6)}`;
  return `${m} ${h} ${clampInt(f.day, 1, 31)} * *`;
}

function clampInt(n: number, lo: number, hi: number): number {
  const v = Math.trunc(Number.isFinite(n) ? n : lo);
  return Math.min(hi, Math.max(lo, v));
}

/** A plain number in range, as cron writes it (no leading zeros beyond one digit, no ranges). */
function cronNumber(s: string, lo: number, hi: number): number | null {
  if (!/^\d{1,2}$/.test(s)) return null;
  const n = Number(s);
  return n >= lo && n <= hi ? n : null;
}

const ALIASES: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
};

/**
 * The preset form an expression is, when it is one of them (`30 4 * * 1` → weekly on
 * Monday at 04:30); anything else is `custom` with the expression kept as it is.
 */
export function parseCron(expression: string): CronForm {
  const base = defaultCronForm();
  const expr = expression.trim();
  const custom: CronForm = { ...base, preset: 'custom', expression: expr };
  const fields = (ALIASES[expr.toLowerCase()] ?? expr).split(/\s+/);
  if (fields.length !== 5) return custom;
  const [mi, ho, dom, mon, dow] = fields;
  const minute = cronNumber(mi, 0, 59);
  if (minute === null || mon !== '*') return custom;
  if (ho === '*' && dom === '*' && dow === '*') return { ...base, preset: 'hourly', minute, expression: expr };
  const hour = cronNumber(ho, 0, 23);
  if (hour === null) return custom;
  const time = `${pad2(hour)}:${pad2(minute)}`;
  if (dom === '*' && dow === '*') return { ...base, preset: 'daily', time, expression: expr };
  if (dom === '*') {
    // 7 is Sunday too.
    const d = cronNumber(dow, 0, 7);
    return d === null ? custom : { ...base, preset: 'weekly', time, weekday: d % 7, expression: expr };
  }
  if (dow === '*') {
    const d = cronNumber(dom, 1, 31);
    return d === null ? custom : { ...base, preset: 'monthly', time, day: d, expression: expr };
  }
  return custom;
}

// ---- Intervals ----

export type IntervalUnit = 'minutes' | 'hours';

export function intervalSecs(value: number, unit: IntervalUnit): number {
  return Math.round(value * (unit === 'hours' ? 3600 : 60));
}

/** Seconds as the editor shows them: whole hours in hours, else minutes. */
export function intervalForm(secs: number): { value: number; unit: IntervalUnit } {
  if (secs > 0 && secs % 3600 === 0) return { value: secs / 3600, unit: 'hours' };
  return { value: Math.max(1, Math.round(secs / 60)), unit: 'minutes' };
}

// ---- Time zones and times ----

export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

const FALLBACK_ZONES = [
  'UTC',
  'Europe/London',
  'Europe/Berlin',
  'Europe/Paris',
  'Europe/Moscow',
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
  'America/Sao_Paulo',
  'Asia/Tokyo',
  'Asia/Shanghai',
  'Asia/Kolkata',
  'Australia/Sydney',
];

/** The zones to choose from: the browser's list when it has one, with UTC, the browser's own and `extra` in it. */
export function timeZones(extra: string[] = [], supported?: () => string[]): string[] {
  let list: string[] = [];
  try {
    const fn = supported ?? (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.bind(Intl, 'timeZone');
    list = fn ? fn() : [];
  } catch {
    list = [];
  }
  if (list.length === 0) list = [...FALLBACK_ZONES];
  const set = new Set(list);
  for (const z of ['UTC', browserZone(), ...extra]) if (z) set.add(z);
  return [...set].sort((a, b) => (a === 'UTC' ? -1 : b === 'UTC' ? 1 : a.localeCompare(b)));
}

/** A moment in the user's zone (or `zone`): "Thu, 3 Dec 2026, 04:00". */
export function formatLocal(ms: number | null | undefined, zone?: string, locale?: string): string {
  if (ms == null) return '—';
  try {
    return new Intl.DateTimeFormat(locale, {
      weekday: 'short',
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone: zone,
    }).format(new Date(ms));
  } catch {
    return new Date(ms).toLocaleString();
  }
}

/** 850 → "850 ms", 2_340 → "2.3 s", 12_300 → "12 s", 65_000 → "1m 5s", 3_720_000 → "1h 2m". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const secs = ms / 1000;
  if (secs < 10) return `${(Math.floor(secs * 10) / 10).toFixed(1)} s`;
  if (secs < 60) return `${Math.floor(secs)} s`;
  const s = Math.floor(secs);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

/** How long a run took, or has taken so far. */
export function runDuration(run: Pick<ScheduleRun, 'started_at' | 'finished_at'>, now = Date.now()): number {
  return (run.finished_at ?? now) - run.started_at;
}

export const OUTCOME_LABELS: Record<RunOutcome, string> = {
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  skipped: 'Skipped',
  interrupted: 'Interrupted',
};

export const CAUSE_LABELS: Record<string, string> = {
  scheduled: 'Scheduled',
  manual: 'Run now',
  catch_up: 'Catch-up',
};

// ---- Tasks ----

/** The fields each action takes (besides `continue_on_failure` and `timeout_secs`). */
export const ACTION_FIELDS: Record<TaskAction, (keyof ScheduleTask)[]> = {
  power: ['power'],
  command: ['command'],
  backup: ['name', 'ignore', 'locked'],
  wait_for: ['state', 'console'],
  delay: ['secs'],
};

/** A new task of `action` as the editor starts it. */
export function defaultTask(action: TaskAction): ScheduleTask {
  switch (action) {
    case 'power':
      return { action, power: 'restart' };
    case 'command':
      return { action, command: '' };
    case 'backup':
      return { action };
    case 'wait_for':
      return { action, state: 'running' };
    case 'delay':
      return { action, secs: 30 };
  }
}

/**
 * The task as the API takes it: only the fields its action takes, empty optional ones
 * left out (no name, no ignore lines, not locked, no timeout, not continue-on-failure).
 */
export function stripTask(t: ScheduleTask): ScheduleTask {
  const out: ScheduleTask = { action: t.action };
  const rec = out as unknown as Record<string, unknown>;
  const src = t as unknown as Record<string, unknown>;
  for (const f of ACTION_FIELDS[t.action] ?? []) {
    const v = src[f];
    if (v === undefined || v === null) continue;
    if (f === 'name' && typeof v === 'string' && v.trim() === '') continue;
    if (f === 'ignore') {
      const lines = Array.isArray(v) ? v.filter((l) => typeof l === 'string' && l.trim() !== '') : [];
      if (lines.length) rec.ignore = lines;
      continue;
    }
    if (f === 'locked' && !v) continue;
    rec[f] = v;
  }
  if (t.continue_on_failure) out.continue_on_failure = true;
  if (t.timeout_secs != null && Number.isFinite(t.timeout_secs)) out.timeout_secs = t.timeout_secs;
  return out;
}

const hasControl = (s: string, allowTab = false) => [...s].some((c) => /\p{Cc}/u.test(c) && !(allowTab && c === '\t'));
const utf8Len = (s: string) => new TextEncoder().encode(s).length;
const isSecs = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_TASK_SECS;

/** A schedule or backup name's problem, as the API words it; null when fine. */
export function nameProblem(name: string): string | null {
  if (name.trim() === '' || [...name].length > MAX_NAME) return `a name must be 1 to ${MAX_NAME} characters`;
  if (hasControl(name)) return 'a name must not hold control characters';
  return null;
}

/** The task's problems by field (`command`, `secs`, ...), the API's rules; empty when it may be sent. */
export function validateTask(t: ScheduleTask): Record<string, string> {
  const errs: Record<string, string> = {};
  switch (t.action) {
    case 'power':
      if (!t.power || !POWER_ACTIONS.includes(t.power)) errs.power = 'a power task needs power: start, stop, restart or kill';
      break;
    case 'command': {
      const c = t.command ?? '';
      if (c === '') errs.command = 'command must not be empty';
      else if (utf8Len(c) > MAX_COMMAND_BYTES) errs.command = `command is longer than ${MAX_COMMAND_BYTES} bytes`;
      else if (hasControl(c, true)) errs.command = 'command must be one line without control characters';
      break;
    }
    case 'backup': {
      if (t.name != null && t.name.trim() !== '') {
        const p = nameProblem(t.name);
        if (p) errs.name = p;
      }
      const ignore = t.ignore ?? [];
      if (ignore.length > 100 || ignore.some((l) => utf8Len(l) > 1000)) errs.ignore = 'at most 100 lines of 1000 bytes';
      break;
    }
    case 'wait_for': {
      const hasState = t.state != null;
      const hasConsole = t.console != null;
      if (hasState === hasConsole) errs.state = 'a wait task waits for either a state or a console pattern';
      else if (hasConsole) {
        const n = utf8Len(t.console!);
        if (n === 0 || n > MAX_PATTERN) errs.console = `a pattern is 1 to ${MAX_PATTERN} bytes`;
      }
      break;
    }
    case 'delay':
      if (!isSecs(t.secs)) errs.secs = `a delay is 1 to ${MAX_TASK_SECS} seconds`;
      break;
  }
  if (t.timeout_secs != null && !isSecs(t.timeout_secs)) errs.timeout_secs = `a timeout is 1 to ${MAX_TASK_SECS} seconds`;
  return errs;
}

/** Every task's problems, keyed as the API names them (`tasks[2].command`), plus `tasks` for the count. */
export function validateTasks(tasks: ScheduleTask[]): Record<string, string> {
  const errs: Record<string, string> = {};
  if (tasks.length === 0 || tasks.length > MAX_TASKS) errs.tasks = `a schedule has 1 to ${MAX_TASKS} tasks`;
  tasks.forEach((t, i) => {
    for (const [f, m] of Object.entries(validateTask(t))) errs[`tasks[${i}].${f}`] = m;
  });
  return errs;
}

/** The whole body's problems by the API's field names; empty when it may be sent. */
export function validateSchedule(b: ScheduleBody): Record<string, string> {
  const errs: Record<string, string> = {};
  const n = nameProblem(b.name);
  if (n) errs.name = n;
  if (b.trigger.kind === 'cron') {
    if (b.trigger.expression.trim() === '') errs['trigger.expression'] = 'a cron expression is needed';
    if (!b.trigger.timezone) errs['trigger.timezone'] = 'choose a time zone';
  } else {
    const s = b.trigger.secs;
    if (!Number.isFinite(s) || s < MIN_INTERVAL_SECS || s > MAX_INTERVAL_SECS) {
      errs['trigger.secs'] = `an interval must be between ${MIN_INTERVAL_SECS} seconds and a year`;
    }
  }
  return { ...errs, ...validateTasks(b.tasks) };
}

/** The task in one line: "Send command: say hi", "Restart the server", "Wait 30 s". */
export function describeTask(t: ScheduleTask): string {
  switch (t.action) {
    case 'power': {
      const verb = { start: 'Start', stop: 'Stop', restart: 'Restart', kill: 'Kill' }[t.power ?? 'restart'] ?? 'Power';
      return `${verb} the server`;
    }
    case 'command':
      return `Send command: ${t.command ?? ''}`;
    case 'backup': {
      const parts = [t.name?.trim() ? `Make a backup “${t.name.trim()}”` : 'Make a backup'];
      const n = t.ignore?.length ?? 0;
      if (n) parts.push(`leaving out ${n} pattern${n === 1 ? '' : 's'}`);
      if (t.locked) parts.push('locked');
      return parts.join(', ');
    }
    case 'wait_for':
      if (t.console != null) return `Wait for a console line matching ${t.console}`;
      return `Wait until the server is ${t.state ?? 'running'}`;
    case 'delay':
      return `Wait ${formatDuration((t.secs ?? 0) * 1000)}`;
    default:
      return String((t as { action?: string }).action ?? 'Task');
  }
}

// ---- The editor's form ----

/**
 * One task as the editor holds it: every action's fields (so switching the action back
 * and forth keeps what was typed), a stable key for the list, the backup's ignore list
 * as text and which kind of wait it is.
 */
export interface TaskDraft {
  key: number;
  action: TaskAction;
  power: PowerAction;
  command: string;
  name: string;
  ignore: string;
  locked: boolean;
  wait: 'state' | 'console';
  state: ServerState;
  console: string;
  secs: number | null;
  continue_on_failure: boolean;
  timeout: number | null;
}

let nextKey = 1;

export function newDraft(action: TaskAction = 'command'): TaskDraft {
  return draftFromTask(defaultTask(action));
}

export function draftFromTask(t: ScheduleTask): TaskDraft {
  return {
    key: nextKey++,
    action: t.action,
    power: t.power ?? 'restart',
    command: t.command ?? '',
    name: t.name ?? '',
    ignore: (t.ignore ?? []).join('\n'),
    locked: !!t.locked,
    wait: t.console != null ? 'console' : 'state',
    state: t.state ?? 'running',
    console: t.console ?? '',
    secs: t.secs ?? 30,
    continue_on_failure: !!t.continue_on_failure,
    timeout: t.timeout_secs ?? null,
  };
}

const numOrUndef = (n: number | null | undefined) => (n == null || (typeof n === 'number' && Number.isNaN(n)) ? undefined : n);

/** The task to send for a draft (stripped to its action's fields). */
export function taskFromDraft(d: TaskDraft): ScheduleTask {
  return stripTask({
    action: d.action,
    power: d.power,
    command: d.command,
    name: d.name,
    ignore: d.ignore.split('\n').map((l) => l.replace(/\r$/, '')),
    locked: d.locked,
    state: d.wait === 'state' ? d.state : undefined,
    console: d.wait === 'console' ? d.console : undefined,
    secs: numOrUndef(d.secs),
    continue_on_failure: d.continue_on_failure,
    timeout_secs: numOrUndef(d.timeout),
  });
}

/** Moves item `i` by `by` places (−1 up, +1 down); the same list when it cannot move. */
export function moveItem<T>(list: T[], i: number, by: number): T[] {
  const j = i + by;
  if (i < 0 || i >= list.length || j < 0 || j >= list.length) return list;
  const out = [...list];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

export type TriggerKind = 'cron' | 'interval';

export interface EditorForm {
  name: string;
  kind: TriggerKind;
  cron: CronForm;
  timezone: string;
  intervalValue: number;
  intervalUnit: IntervalUnit;
  enabled: boolean;
  only_when_online: boolean;
  missed: MissedPolicy;
  tasks: TaskDraft[];
}

export function newEditorForm(zone = browserZone()): EditorForm {
  return {
    name: '',
    kind: 'cron',
    cron: defaultCronForm(),
    timezone: zone,
    intervalValue: 1,
    intervalUnit: 'hours',
    enabled: true,
    only_when_online: false,
    missed: 'skip',
    tasks: [newDraft('command')],
  };
}

export function editorFormFrom(s: Schedule, zone = browserZone()): EditorForm {
  const f = newEditorForm(zone);
  f.name = s.name;
  if (s.trigger.kind === 'cron') {
    f.kind = 'cron';
    f.cron = parseCron(s.trigger.expression);
    f.timezone = s.trigger.timezone || 'UTC';
  } else {
    f.kind = 'interval';
    const iv = intervalForm(s.trigger.secs);
    f.intervalValue = iv.value;
    f.intervalUnit = iv.unit;
  }
  f.enabled = s.enabled;
  f.only_when_online = s.only_when_online;
  f.missed = s.missed;
  f.tasks = s.tasks.map(draftFromTask);
  return f;
}

export function triggerOf(f: Pick<EditorForm, 'kind' | 'cron' | 'timezone' | 'intervalValue' | 'intervalUnit'>): ScheduleTrigger {
  if (f.kind === 'interval') return { kind: 'interval', secs: intervalSecs(f.intervalValue, f.intervalUnit) };
  return { kind: 'cron', expression: buildCron(f.cron), timezone: f.timezone };
}

export function scheduleBody(f: EditorForm): ScheduleBody {
  return {
    name: f.name.trim(),
    trigger: triggerOf(f),
    enabled: f.enabled,
    only_when_online: f.only_when_online,
    missed: f.missed,
    tasks: f.tasks.map(taskFromDraft),
  };
}

/** The preview's query string (`?cron=…&timezone=…&count=5` or `?interval=…`). */
export function previewQuery(t: ScheduleTrigger, count = 5): string {
  const q = new URLSearchParams();
  if (t.kind === 'cron') {
    q.set('cron', t.expression);
    q.set('timezone', t.timezone);
  } else {
    q.set('interval', String(t.secs));
  }
  q.set('count', String(count));
  return `/schedules/preview?${q}`;
}

/** The preview's bad parameter as the editor's field. */
export function previewField(field: string | undefined): string | undefined {
  return { cron: 'trigger.expression', timezone: 'trigger.timezone', interval: 'trigger.secs' }[field ?? ''];
}

const TASK_FIELDS = ['power', 'command', 'name', 'ignore', 'locked', 'state', 'console', 'secs', 'continue_on_failure', 'timeout_secs', 'action'];

/** Every field the editor can show an error at, for `n` tasks. */
export function editorFields(n: number): string[] {
  const out = ['name', 'trigger', 'trigger.expression', 'trigger.timezone', 'trigger.secs', 'enabled', 'only_when_online', 'missed', 'tasks'];
  for (let i = 0; i < n; i++) for (const f of TASK_FIELDS) out.push(`tasks[${i}].${f}`);
  return out;
}

/** Where a failed save's error goes: the field it names (a task's own input included), else above the form. */
export function saveErrors(err: unknown, taskCount: number): FormErrors {
  const r = formErrors(err, editorFields(taskCount), {
    403: err instanceof ApiError ? `Not allowed: ${err.message}` : undefined,
  });
  // A `trigger` error without a part (a wrong kind) shows at the trigger's main input.
  if (r.fields.trigger) r.fields['trigger.expression'] ??= r.fields.trigger;
  return r;
}

/** The index and field of a `tasks[3].command` key. */
export function taskField(key: string): { index: number; field: string } | null {
  const m = /^tasks\[(\d+)\]\.(\w+)$/.exec(key);
  return m ? { index: Number(m[1]), field: m[2] } : null;
}

// ---- The list ----

/** Oldest first, as the API lists them; ties by id. */
export function sortSchedules(list: Schedule[]): Schedule[] {
  return [...list].sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
}

export function upsertSchedule(list: Schedule[], s: Schedule): Schedule[] {
  const i = list.findIndex((x) => x.id === s.id);
  if (i < 0) return sortSchedules([...list, s]);
  const out = [...list];
  out[i] = s;
  return out;
}

export const removeSchedule = (list: Schedule[], id: string) => list.filter((s) => s.id !== id);

/** Runs of two pages as one list, newest first, no run twice (a run seen on both pages keeps the newer copy). */
export function mergeRuns(a: ScheduleRun[], b: ScheduleRun[]): ScheduleRun[] {
  const byId = new Map<string, ScheduleRun>();
  for (const r of [...b, ...a]) byId.set(r.id, r);
  return [...byId.values()].sort((x, y) => y.started_at - x.started_at || y.id.localeCompare(x.id));
}
