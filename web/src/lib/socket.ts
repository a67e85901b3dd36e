import { Backoff } from './backoff';
import type { ApiErrorBody } from './api';
import type { BackupEvent } from './backups';
import type { FileEvent } from './files';
import type { Hello, InstallEvent, PowerAction, Prompt, ScheduleEvent, ServerState, Stats } from './types';

export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ConsoleHandlers {
  hello?(data: Hello): void;
  history?(data: { lines: string[]; next_seq: number }): void;
  console?(data: { server: string; seq: number; lines: string[]; dropped?: number }): void;
  missed?(data: { lines: number }): void;
  status?(data: { server: string; state: ServerState; previous: ServerState; at: number; reason?: string }): void;
  stats?(data: { server: string; stats: Stats }): void;
  install?(data: InstallEvent): void;
  /** A running server asks the user to act (sign in with a code). */
  prompt?(data: { server: string; prompt: Prompt }): void;
  /** Files changed under the server's directory (API, SFTP or the game itself). */
  file?(data: FileEvent): void;
  /** A backup or restore started, progressed or ended. */
  backup?(data: BackupEvent): void;
  /** A schedule's run started or ended (`schedule.run`, for callers with schedule.read). */
  schedule?(data: ScheduleEvent): void;
  error?(data: ApiErrorBody): void;
  connection?(status: ConnectionStatus, retryInMs?: number): void;
  /** The socket failed before opening: maybe the session is gone. */
  failedToOpen?(): void;
}

type WsLike = Pick<WebSocket, 'send' | 'close' | 'readyState'> & {
  onopen: ((ev: Event) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
};

export interface SocketOptions {
  url: string;
  handlers: ConsoleHandlers;
  backoff?: Backoff;
  create?: (url: string) => WsLike;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export function consoleUrl(serverId: string, loc: { protocol: string; host: string } = location): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}/api/servers/${encodeURIComponent(serverId)}/ws`;
}

/**
 * The console WebSocket of one server, reconnecting by itself with backoff until
 * `close()` is called. The session cookie authenticates it (same origin).
 */
export class ConsoleSocket {
  private ws: WsLike | null = null;
  private timer: unknown = null;
  private closed = false;
  private opened = false;
  private readonly o: Required<SocketOptions>;
  status: ConnectionStatus = 'connecting';

  constructor(opts: SocketOptions) {
    this.o = {
      backoff: new Backoff(),
      create: (url) => new WebSocket(url) as unknown as WsLike,
      setTimer: (cb, ms) => setTimeout(cb, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      ...opts,
    };
    this.connect();
  }

  private setStatus(s: ConnectionStatus, retryInMs?: number) {
    this.status = s;
    this.o.handlers.connection?.(s, retryInMs);
  }

  private connect() {
    if (this.closed) return;
    this.opened = false;
    const ws = this.o.create(this.o.url);
    this.ws = ws;
    ws.onopen = () => {
      this.opened = true;
    };
    ws.onmessage = (ev) => this.dispatch(ev.data);
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      if (!this.opened) this.o.handlers.failedToOpen?.();
      const delay = this.o.backoff.next();
      this.setStatus('reconnecting', delay);
      this.timer = this.o.setTimer(() => {
        this.timer = null;
        this.connect();
      }, delay);
    };
  }

  private dispatch(raw: unknown) {
    if (typeof raw !== 'string') return;
    let msg: { event?: string; data?: unknown };
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    const h = this.o.handlers;
    const d = msg.data as never;
    switch (msg.event) {
      case 'hello':
        // The first frame of every connection: only now is it really up.
        this.o.backoff.reset();
        this.setStatus('connected');
        h.hello?.(d);
        break;
      case 'console.history':
        h.history?.(d);
        break;
      case 'server.console':
        h.console?.(d);
        break;
      case 'console.missed':
        h.missed?.(d);
        break;
      case 'server.status':
        h.status?.(d);
        break;
      case 'server.stats':
        h.stats?.(d);
        break;
      case 'server.install':
        h.install?.(d);
        break;
      case 'server.prompt':
        h.prompt?.(d);
        break;
      case 'server.file':
        h.file?.(d);
        break;
      case 'server.backup':
        h.backup?.(d);
        break;
      case 'schedule.run':
        h.schedule?.(d);
        break;
      case 'error':
        h.error?.(d);
        break;
    }
  }

  /** Sends a client message; false when not connected. */
  send(msg: { type: 'command'; command: string } | { type: 'power'; action: PowerAction }): boolean {
    if (!this.ws || this.ws.readyState !== 1 || this.status !== 'connected') return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Reconnect now instead of waiting for the backoff (e.g. the tab became visible). */
  retryNow() {
    if (this.closed || this.ws) return;
    if (this.timer !== null) this.o.clearTimer(this.timer);
    this.timer = null;
    this.connect();
  }

  close() {
    this.closed = true;
    if (this.timer !== null) this.o.clearTimer(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.setStatus('closed');
  }
}
