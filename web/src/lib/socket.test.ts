import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff';
import { ConsoleSocket, consoleUrl, type ConnectionStatus } from './socket';

class FakeWs {
  readyState = 0;
  sent: string[] = [];
  onopen: ((e: Event) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  constructor(readonly url: string) {}
  send(s: string) {
    this.sent.push(s);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({} as Event);
  }
  msg(o: unknown) {
    this.onmessage?.({ data: JSON.stringify(o) } as MessageEvent);
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({} as CloseEvent);
  }
}

function setup() {
  const sockets: FakeWs[] = [];
  const timers: { cb: () => void; ms: number }[] = [];
  const statuses: [ConnectionStatus, number | undefined][] = [];
  const events: string[] = [];
  let failed = 0;
  const s = new ConsoleSocket({
    url: 'ws://h/api/servers/s1/ws',
    backoff: new Backoff(100, 1000, 0),
    create: (url) => {
      const w = new FakeWs(url);
      sockets.push(w);
      return w;
    },
    setTimer: (cb, ms) => timers.push({ cb, ms }),
    clearTimer: () => {},
    handlers: {
      connection: (st, ms) => statuses.push([st, ms]),
      hello: (d) => events.push(`hello:${d.state}`),
      console: (d) => events.push(`console:${d.lines.join(',')}`),
      status: (d) => events.push(`status:${d.state}`),
      error: (e) => events.push(`error:${e.message}`),
      install: (d) => events.push(`install:${d.phase}${d.step != null ? `:${d.step}` : ''}`),
      prompt: (d) => events.push(`prompt:${d.prompt.code}`),
      file: (d) => events.push(`file:${d.source}:${d.changes.map((c) => `${c.action} ${c.path}`).join(',')}`),
      backup: (d) => events.push(`backup:${d.op}:${d.stage}:${d.backup}`),
      failedToOpen: () => failed++,
    },
  });
  return { s, sockets, timers, statuses, events, failed: () => failed };
}

describe('ConsoleSocket', () => {
  it('builds the URL from the page location', () => {
    expect(consoleUrl('s1', { protocol: 'https:', host: 'g.example' })).toBe('wss://g.example/api/servers/s1/ws');
    expect(consoleUrl('s1', { protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/api/servers/s1/ws');
  });

  it('dispatches events and sends only when connected', () => {
    const t = setup();
    const ws = t.sockets[0];
    expect(t.s.send({ type: 'command', command: 'x' })).toBe(false);
    ws.open();
    ws.msg({ event: 'hello', data: { server: 's1', state: 'offline', stats: null } });
    ws.msg({ event: 'server.console', data: { server: 's1', seq: 0, lines: ['a', 'b'] } });
    ws.msg({ event: 'server.status', data: { server: 's1', state: 'running', previous: 'starting', at: 1 } });
    ws.msg({ event: 'error', data: { code: 'conflict', message: 'no' } });
    ws.msg({ event: 'server.install', data: { server: 's1', phase: 'step', step: 1, steps: 3, kind: 'download' } });
    ws.msg({ event: 'server.prompt', data: { server: 's1', prompt: { url: 'https://x', code: 'AB-12', message: '' } } });
    ws.msg({ event: 'server.file', data: { server: 's1', source: 'sftp', changes: [{ action: 'created', path: 'a.txt' }] } });
    ws.msg({ event: 'server.backup', data: { server: 's1', backup: 'b1', op: 'create', stage: 'progress', bytes: 5, files: 1 } });
    ws.msg({ event: 'something.new', data: {} });
    expect(t.events).toEqual([
      'hello:offline',
      'console:a,b',
      'status:running',
      'error:no',
      'install:step:1',
      'prompt:AB-12',
      'file:sftp:created a.txt',
      'backup:create:progress:b1',
    ]);
    expect(t.statuses.at(-1)).toEqual(['connected', undefined]);
    expect(t.s.send({ type: 'power', action: 'start' })).toBe(true);
    expect(JSON.parse(ws.sent[0])).toEqual({ type: 'power', action: 'start' });
  });

  it('reconnects with growing delays and resets after a good connection', () => {
    const t = setup();
    t.sockets[0].drop();
    expect(t.failed()).toBe(1);
    expect(t.statuses.at(-1)).toEqual(['reconnecting', 100]);
    t.timers.shift()!.cb();
    t.sockets[1].drop();
    expect(t.statuses.at(-1)).toEqual(['reconnecting', 200]);
    t.timers.shift()!.cb();
    t.sockets[2].open();
    t.sockets[2].msg({ event: 'hello', data: { server: 's1', state: 'running', stats: null } });
    t.sockets[2].drop();
    expect(t.statuses.at(-1)).toEqual(['reconnecting', 100]);
    expect(t.failed()).toBe(2);
  });

  it('stops for good when closed', () => {
    const t = setup();
    t.s.close();
    t.sockets[0].drop();
    expect(t.timers.length).toBe(0);
    expect(t.statuses.at(-1)).toEqual(['closed', undefined]);
  });
});
