import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import {
  ALL_EVENTS,
  attemptLabel,
  baseField,
  channelBody,
  channelErrors,
  channelFormFrom,
  channelTarget,
  compactEvents,
  describeEvents,
  expandEvents,
  groupState,
  newChannelForm,
  splitAddresses,
  toggleEvent,
  toggleGroup,
  validateChannel,
  type NotificationChannel,
} from './channels';

describe('events', () => {
  it('expands prefixes and compacts whole groups', () => {
    const s = expandEvents(['alert', 'server.crashed']);
    expect([...s].sort()).toEqual(['alert.firing', 'alert.resolved', 'server.crashed']);
    expect(compactEvents(s)).toEqual(['alert', 'server.crashed']);
    expect(compactEvents(expandEvents(['schedule']))).toEqual(['schedule.failed']);
    expect(compactEvents(new Set(ALL_EVENTS))).toEqual(['alert', 'server', 'backup', 'install', 'schedule.failed']);
    expect([...expandEvents(['nope', 'alert.firing'])]).toEqual(['alert.firing']);
  });
  it('toggles groups and single events', () => {
    let s = new Set<string>(['server.crashed']);
    expect(groupState(s, 'server')).toBe('some');
    s = toggleGroup(s, 'server');
    expect(groupState(s, 'server')).toBe('all');
    s = toggleGroup(s, 'server');
    expect(groupState(s, 'server')).toBe('none');
    s = toggleEvent(s, 'backup.failed');
    expect(compactEvents(s)).toEqual(['backup.failed']);
    expect(toggleEvent(s, 'backup.failed').size).toBe(0);
  });
  it('describes subscriptions', () => {
    expect(describeEvents(['alert', 'server.crashed', 'x.y'])).toBe('Alerts, Servers: Crashed, x.y');
  });
});

const webhook: NotificationChannel = {
  id: 'c1',
  name: 'Ops',
  channel: { kind: 'webhook', url: 'https://hooks.example.com/a/b?token=1', has_secret: true },
  events: ['alert'],
  servers: ['s1'],
  enabled: true,
};

describe('the channel form', () => {
  it('keeps a stored secret by leaving it out', () => {
    const f = channelFormFrom(webhook);
    expect(f.hasSecret).toBe(true);
    expect(channelBody(f)).toEqual({ name: 'Ops', channel: { kind: 'webhook', url: 'https://hooks.example.com/a/b?token=1' }, events: ['alert'], servers: ['s1'], enabled: true });
    f.secret = 'new';
    expect(channelBody(f).channel).toEqual({ kind: 'webhook', url: 'https://hooks.example.com/a/b?token=1', secret: 'new' });
  });
  it('sends only the kind’s fields', () => {
    const f = newChannelForm('discord');
    f.name = 'D';
    f.url = ' https://discord.com/api/webhooks/1/x ';
    f.secret = 'ignored';
    expect(channelBody(f).channel).toEqual({ kind: 'discord', url: 'https://discord.com/api/webhooks/1/x' });
  });
  it('builds email configs', () => {
    const f = newChannelForm('email');
    f.name = 'Mail';
    f.host = 'smtp.example.com';
    f.from = 'a@example.com';
    f.to = 'b@example.com, c@example.com\n\n d@example.com';
    expect(channelBody(f).channel).toEqual({ kind: 'email', host: 'smtp.example.com', port: 587, security: 'starttls', from: 'a@example.com', to: ['b@example.com', 'c@example.com', 'd@example.com'] });
    f.username = 'u';
    f.password = 'p';
    f.subject = '{{title}}';
    expect(channelBody(f).channel).toMatchObject({ username: 'u', password: 'p', subject: '{{title}}' });
    const back = channelFormFrom({ ...webhook, channel: { kind: 'email', host: 'h', port: 465, security: 'tls', username: 'u', has_password: true, from: 'f@x', to: ['a@x', 'b@x'] } });
    expect(back.hasPassword).toBe(true);
    expect(back.to).toBe('a@x\nb@x');
    expect('password' in channelBody(back).channel).toBe(false);
  });
  it('splits addresses', () => {
    expect(splitAddresses(' a@x ;b@x,,\n')).toEqual(['a@x', 'b@x']);
  });
  it('checks before sending', () => {
    const f = newChannelForm('webhook');
    f.events = new Set();
    expect(validateChannel(f)).toEqual({ name: 'Give the channel a name.', events: 'Choose at least one event.', 'channel.url': 'Enter an http(s) URL.' });
    const m = newChannelForm('email');
    m.name = 'x';
    m.port = 0;
    expect(Object.keys(validateChannel(m)).sort()).toEqual(['channel.from', 'channel.host', 'channel.port', 'channel.to']);
  });
  it('puts list errors under the list’s input', () => {
    expect(baseField('channel.to[2]')).toBe('channel.to');
    const e = new ApiError(422, { code: 'invalid', message: 'not an address', field: 'channel.to[1]' });
    expect(channelErrors(e)).toEqual({ fields: { 'channel.to': 'not an address' }, general: null });
    const ev = new ApiError(422, { code: 'invalid', message: 'bad', field: 'events[0]' });
    expect(channelErrors(ev).fields).toEqual({ events: 'bad' });
    const url = new ApiError(422, { code: 'invalid', message: 'bad url', field: 'channel.url' });
    expect(channelErrors(url).fields).toEqual({ 'channel.url': 'bad url' });
    expect(channelErrors(new ApiError(422, { code: 'x', message: 'm', field: 'other' }))).toEqual({ fields: {}, general: 'm' });
  });
});

describe('words', () => {
  it('shows where without tokens', () => {
    expect(channelTarget(webhook.channel)).toBe('hooks.example.com');
    expect(channelTarget({ kind: 'email', host: 'h', port: 25, security: 'none', from: 'f', to: ['a', 'b'] })).toBe('a, b via h:25');
  });
  it('labels attempts', () => {
    expect(attemptLabel({ at: 0, duration_ms: 12.4, status: 200, error: null })).toBe('HTTP 200 in 12 ms');
    expect(attemptLabel({ at: 0, duration_ms: 3, status: null, error: 'connection refused' })).toBe('connection refused (3 ms)');
    expect(attemptLabel({ at: 0, duration_ms: 3, status: 500, error: 'server error' })).toBe('HTTP 500: server error (3 ms)');
    expect(attemptLabel({ at: 0, duration_ms: 3, status: null, error: null })).toBe('sent in 3 ms');
  });
});
