// Admin → Notifications: channel shapes, the editor's form for each kind (secrets kept
// when left empty), event subscriptions with group toggles (a whole group is sent as its
// prefix), where the API's errors go, and words for deliveries. Pure, so it can be tested.

import { ApiError } from './api';
import { formErrors, type FormErrors } from './errors';

export type ChannelKind = 'webhook' | 'discord' | 'slack' | 'email';
export type SmtpSecurity = 'starttls' | 'tls' | 'none';

export const CHANNEL_KINDS: { kind: ChannelKind; label: string }[] = [
  { kind: 'webhook', label: 'Webhook' },
  { kind: 'discord', label: 'Discord' },
  { kind: 'slack', label: 'Slack' },
  { kind: 'email', label: 'Email' },
];

/** A channel's config as the API shows it: no secrets, only whether they are set. */
export type ChannelConfigView =
  | { kind: 'webhook'; url: string; has_secret?: boolean }
  | { kind: 'discord'; url: string }
  | { kind: 'slack'; url: string }
  | {
      kind: 'email';
      host: string;
      port: number;
      security: SmtpSecurity;
      username?: string | null;
      has_password?: boolean;
      from: string;
      to: string[];
      subject?: string | null;
      body?: string | null;
    };

export type ChannelConfigBody =
  | { kind: 'webhook'; url: string; secret?: string }
  | { kind: 'discord'; url: string }
  | { kind: 'slack'; url: string }
  | {
      kind: 'email';
      host: string;
      port: number;
      security: SmtpSecurity;
      username?: string;
      password?: string;
      from: string;
      to: string[];
      subject?: string;
      body?: string;
    };

export interface NotificationChannel {
  id: string;
  name: string;
  channel: ChannelConfigView;
  events: string[];
  servers: string[];
  enabled: boolean;
  created_at?: number;
  updated_at?: number;
}

export interface ChannelBody {
  name: string;
  channel: ChannelConfigBody;
  events: string[];
  servers: string[];
  enabled: boolean;
}

export interface Attempt {
  at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
}

export interface TestResult {
  id: string;
  ok: boolean;
  attempts: Attempt[];
}

export interface Delivery {
  id: string;
  channel_id: string;
  event: string;
  title: string;
  ok: boolean;
  attempts: Attempt[];
  created_at: number;
}

export const channelsApi = (id?: string, suffix = '') => (id ? `/admin/channels/${encodeURIComponent(id)}${suffix}` : '/admin/channels');

// ---- Events ----

export const EVENT_GROUPS: { key: string; label: string; events: { name: string; label: string }[] }[] = [
  { key: 'alert', label: 'Alerts', events: [{ name: 'alert.firing', label: 'Firing' }, { name: 'alert.resolved', label: 'Resolved' }] },
  {
    key: 'server',
    label: 'Servers',
    events: [
      { name: 'server.started', label: 'Started' },
      { name: 'server.stopped', label: 'Stopped' },
      { name: 'server.crashed', label: 'Crashed' },
    ],
  },
  { key: 'backup', label: 'Backups', events: [{ name: 'backup.succeeded', label: 'Succeeded' }, { name: 'backup.failed', label: 'Failed' }] },
  { key: 'install', label: 'Installs', events: [{ name: 'install.succeeded', label: 'Succeeded' }, { name: 'install.failed', label: 'Failed' }] },
  { key: 'schedule', label: 'Schedules', events: [{ name: 'schedule.failed', label: 'Run failed' }] },
];

export const ALL_EVENTS = EVENT_GROUPS.flatMap((g) => g.events.map((e) => e.name));

/** The full event names a subscription stands for (`alert` → every alert event). */
export function expandEvents(subscribed: string[]): Set<string> {
  const out = new Set<string>();
  for (const s of subscribed) {
    for (const e of ALL_EVENTS) if (e === s || e.startsWith(s + '.')) out.add(e);
  }
  return out;
}

/** What to send: a whole group as its prefix, the rest one by one, in the list's order. */
export function compactEvents(selected: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const g of EVENT_GROUPS) {
    const names = g.events.map((e) => e.name);
    if (names.length > 1 && names.every((n) => selected.has(n))) out.push(g.key);
    else out.push(...names.filter((n) => selected.has(n)));
  }
  return out;
}

export function groupState(selected: ReadonlySet<string>, key: string): 'all' | 'some' | 'none' {
  const names = EVENT_GROUPS.find((g) => g.key === key)?.events.map((e) => e.name) ?? [];
  const n = names.filter((x) => selected.has(x)).length;
  return n === 0 ? 'none' : n === names.length ? 'all' : 'some';
}

/** A group's toggle: all on unless all are on already, then all off. */
export function toggleGroup(selected: ReadonlySet<string>, key: string): Set<string> {
  const names = EVENT_GROUPS.find((g) => g.key === key)?.events.map((e) => e.name) ?? [];
  const s = new Set(selected);
  const on = groupState(selected, key) !== 'all';
  for (const n of names) {
    if (on) s.add(n);
    else s.delete(n);
  }
  return s;
}

export function toggleEvent(selected: ReadonlySet<string>, name: string): Set<string> {
  const s = new Set(selected);
  if (s.has(name)) s.delete(name);
  else s.add(name);
  return s;
}

/** "alert, server.crashed" → "Alerts, Servers: Crashed". */
export function describeEvents(events: string[]): string {
  return events
    .map((e) => {
      const g = EVENT_GROUPS.find((x) => x.key === e);
      if (g) return g.label;
      const [gk] = e.split('.');
      const group = EVENT_GROUPS.find((x) => x.key === gk);
      const ev = group?.events.find((x) => x.name === e);
      return group && ev ? `${group.label}: ${ev.label}` : e;
    })
    .join(', ');
}

// ---- The editor ----

export interface ChannelForm {
  name: string;
  kind: ChannelKind;
  url: string;
  /** Empty: keep the stored one (or none). */
  secret: string;
  hasSecret: boolean;
  host: string;
  port: number | null;
  security: SmtpSecurity;
  username: string;
  password: string;
  hasPassword: boolean;
  from: string;
  /** One address per line or comma separated. */
  to: string;
  subject: string;
  body: string;
  events: Set<string>;
  /** Empty: every server. */
  servers: string[];
  enabled: boolean;
}

export function newChannelForm(kind: ChannelKind = 'webhook'): ChannelForm {
  return {
    name: '',
    kind,
    url: '',
    secret: '',
    hasSecret: false,
    host: '',
    port: 587,
    security: 'starttls',
    username: '',
    password: '',
    hasPassword: false,
    from: '',
    to: '',
    subject: '',
    body: '',
    events: expandEvents(['alert']),
    servers: [],
    enabled: true,
  };
}

export function channelFormFrom(c: NotificationChannel): ChannelForm {
  const f = newChannelForm(c.channel.kind);
  f.name = c.name;
  f.events = expandEvents(c.events);
  f.servers = [...c.servers];
  f.enabled = c.enabled;
  const ch = c.channel;
  if (ch.kind === 'email') {
    f.host = ch.host;
    f.port = ch.port;
    f.security = ch.security;
    f.username = ch.username ?? '';
    f.hasPassword = !!ch.has_password;
    f.from = ch.from;
    f.to = ch.to.join('\n');
    f.subject = ch.subject ?? '';
    f.body = ch.body ?? '';
  } else {
    f.url = ch.url;
    if (ch.kind === 'webhook') f.hasSecret = !!ch.has_secret;
  }
  return f;
}

/** Addresses typed one a line or comma separated, blanks dropped. */
export function splitAddresses(s: string): string[] {
  return s
    .split(/[\n,;]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Suggested port for a security mode. */
export const SMTP_PORTS: Record<SmtpSecurity, number> = { starttls: 587, tls: 465, none: 25 };

export function channelConfig(f: ChannelForm): ChannelConfigBody {
  switch (f.kind) {
    case 'webhook':
      return f.secret ? { kind: 'webhook', url: f.url.trim(), secret: f.secret } : { kind: 'webhook', url: f.url.trim() };
    case 'discord':
    case 'slack':
      return { kind: f.kind, url: f.url.trim() };
    case 'email': {
      const c: ChannelConfigBody = {
        kind: 'email',
        host: f.host.trim(),
        port: typeof f.port === 'number' && Number.isFinite(f.port) ? Math.round(f.port) : SMTP_PORTS[f.security],
        security: f.security,
        from: f.from.trim(),
        to: splitAddresses(f.to),
      };
      if (f.username.trim()) c.username = f.username.trim();
      if (f.password) c.password = f.password;
      if (f.subject.trim()) c.subject = f.subject;
      if (f.body.trim()) c.body = f.body;
      return c;
    }
  }
}

export function channelBody(f: ChannelForm): ChannelBody {
  return { name: f.name.trim(), channel: channelConfig(f), events: compactEvents(f.events), servers: [...f.servers], enabled: f.enabled };
}

/** Checks before sending: what the form can tell without the API. */
export function validateChannel(f: ChannelForm): Record<string, string> {
  const out: Record<string, string> = {};
  if (!f.name.trim()) out.name = 'Give the channel a name.';
  if (f.events.size === 0) out.events = 'Choose at least one event.';
  if (f.kind === 'email') {
    if (!f.host.trim()) out['channel.host'] = 'Enter the SMTP server.';
    if (!(typeof f.port === 'number' && f.port >= 1 && f.port <= 65535)) out['channel.port'] = 'A port is 1 to 65535.';
    if (!f.from.trim()) out['channel.from'] = 'Enter the sender address.';
    if (splitAddresses(f.to).length === 0) out['channel.to'] = 'Enter at least one recipient.';
  } else if (!/^https?:\/\/\S+$/i.test(f.url.trim())) {
    out['channel.url'] = 'Enter an http(s) URL.';
  }
  return out;
}

export const CHANNEL_FIELDS = [
  'name',
  'events',
  'servers',
  'enabled',
  'channel',
  'channel.url',
  'channel.secret',
  'channel.host',
  'channel.port',
  'channel.security',
  'channel.username',
  'channel.password',
  'channel.from',
  'channel.to',
  'channel.subject',
  'channel.body',
];

/** `events[2]` → `events`, `channel.to[1]` → `channel.to`, `servers[0]` → `servers`. */
export function baseField(field: string): string {
  return field.replace(/\[\d+\]$/, '');
}

/** A save's error under its input; list items (`channel.to[1]`) go under their list's input. */
export function channelErrors(err: unknown): FormErrors {
  if (err instanceof ApiError && err.field && CHANNEL_FIELDS.includes(baseField(err.field))) {
    const r = formErrors(err, [err.field]);
    return { fields: { [baseField(err.field)]: r.fields[err.field] }, general: null };
  }
  return formErrors(err, []);
}

// ---- Words ----

/** Where a channel sends, without tokens: the URL's host, or the recipients. */
export function channelTarget(c: ChannelConfigView): string {
  if (c.kind === 'email') return `${c.to.join(', ')} via ${c.host}:${c.port}`;
  try {
    return new URL(c.url).host;
  } catch {
    return c.url;
  }
}

/** "HTTP 200 in 12 ms", "failed: connection refused (3 ms)". */
export function attemptLabel(a: Attempt): string {
  const took = `${Math.round(a.duration_ms)} ms`;
  if (a.error) return `${a.status != null ? `HTTP ${a.status}: ` : ''}${a.error} (${took})`;
  if (a.status != null) return `HTTP ${a.status} in ${took}`;
  return `sent in ${took}`;
}
