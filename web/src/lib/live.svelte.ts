import { ApiError, get } from './api';
import { LineBatcher } from './batcher';
import { SampleWindow } from './samples';
import { planBatch, planHistory } from './sequence';
import { ConsoleSocket, consoleUrl, type ConnectionStatus } from './socket';
import { applyHello, idleInstall, samePrompt, installStateChanged, reduceInstall, settleFromStatus, type InstallView } from './install';
import type { BackupEvent } from './backups';
import type { FileEvent } from './files';
import type { InstallStatus, PowerAction, Prompt, ScheduleEvent, ServerState, Stats } from './types';

/** What the console needs from a terminal (xterm.js's Terminal fits). */
export interface TermLike {
  write(data: string, done?: () => void): void;
  reset(): void;
}

const dim = (s: string) => `\x1b[2m${s}\x1b[0m\r\n`;

/**
 * One server's live connection, shared by the Console and Stats tabs: console lines
 * into the terminal (batched), state, stats samples, connection status.
 */
export class ServerLive {
  state = $state<ServerState | null>(null);
  stats = $state<Stats | null>(null);
  connection = $state<ConnectionStatus>('connecting');
  retryInMs = $state<number | null>(null);
  lastError = $state<string | null>(null);
  /** The server no longer exists (deleted elsewhere). */
  gone = $state(false);
  /** Bumped when a sample arrives, so charts know to redraw. */
  samplesVersion = $state(0);
  readonly samples = new SampleWindow(600);
  /**
   * The install as the events tell it (step, progress, prompt, how it ended); a page
   * that opens mid-install learns the step and an open prompt from `hello`.
   */
  install = $state<InstallView>(idleInstall());
  /** A running server asks the user to sign in (`server.prompt`, or told by `hello`). */
  runPrompt = $state<Prompt | null>(null);
  /** The running server's prompt the user closed: a reconnect's `hello` does not bring it back. */
  private dismissedPrompt: Prompt | null = null;

  private socket: ConsoleSocket | null = null;
  private fileListeners = new Set<(e: FileEvent) => void>();
  private backupListeners = new Set<(e: BackupEvent) => void>();
  private scheduleListeners = new Set<(e: ScheduleEvent) => void>();
  private term: TermLike | null = null;
  private batcher: LineBatcher;
  private shownNext: number | null = null;
  private gapAnnounced = false;

  constructor(
    readonly serverId: string,
    scrollback = 5000,
  ) {
    this.batcher = new LineBatcher(
      (text, done) => {
        if (this.term) this.term.write(text, done);
        else done();
      },
      { maxLines: scrollback },
    );
  }

  /** Attach the terminal and connect. */
  start(term: TermLike) {
    this.term = term;
    if (this.socket) return;
    this.socket = new ConsoleSocket({
      url: consoleUrl(this.serverId),
      handlers: {
        connection: (s, retry) => {
          this.connection = s;
          this.retryInMs = retry ?? null;
        },
        failedToOpen: () => {
          // A refused upgrade looks like a plain close: ask the API why. A 401 sends
          // the user to the login page; a 404 means the server was deleted.
          get(`/servers/${encodeURIComponent(this.serverId)}`).catch((e) => {
            if (e instanceof ApiError && e.status === 404) {
              this.gone = true;
              this.stop();
            }
          });
        },
        hello: (d) => {
          // What this connection missed: the state, the running install's last event
          // and the open sign-in prompt (again after every reconnect).
          if (d.state) this.state = d.state;
          const next = applyHello({ install: this.install, runPrompt: this.runPrompt }, d);
          this.install = next.install;
          this.runPrompt = samePrompt(next.runPrompt, this.dismissedPrompt) ? null : next.runPrompt;
          if (d.stats) this.addStats(d.stats);
        },
        history: (d) => {
          const plan = planHistory(this.shownNext, d.lines, d.next_seq);
          if (plan.reset) {
            this.batcher.clear();
            this.term?.reset();
          }
          if (plan.skipped > 0) this.batcher.pushRaw(dim(`[${plan.skipped} lines skipped]`));
          this.batcher.push(plan.lines);
          this.shownNext = d.next_seq;
          this.gapAnnounced = false;
        },
        missed: (d) => {
          this.batcher.pushRaw(dim(`[${d.lines} lines skipped]`));
          this.gapAnnounced = true;
        },
        console: (d) => {
          const plan = planBatch(this.shownNext, d.seq, d.lines);
          if (plan.skipped > 0 && !this.gapAnnounced) {
            this.batcher.pushRaw(dim(`[${plan.skipped} lines skipped]`));
          }
          if (d.dropped) this.batcher.pushRaw(dim(`[${d.dropped} lines skipped]`));
          this.gapAnnounced = false;
          this.batcher.push(plan.lines);
          this.shownNext = Math.max(this.shownNext ?? 0, d.seq + d.lines.length);
        },
        status: (d) => {
          this.setState(d.state);
          if (d.state === 'crashed') {
            this.batcher.pushRaw(`\x1b[31m[Garrison] The server crashed${d.reason ? `: ${d.reason}` : ''}\x1b[0m\r\n`);
          }
        },
        stats: (d) => this.addStats(d.stats),
        install: (d) => {
          this.install = reduceInstall(this.install, d);
        },
        prompt: (d) => {
          this.runPrompt = d.prompt;
        },
        file: (d) => {
          for (const fn of this.fileListeners) fn(d);
        },
        backup: (d) => {
          for (const fn of this.backupListeners) fn(d);
        },
        schedule: (d) => {
          for (const fn of this.scheduleListeners) fn(d);
        },
        error: (e) => {
          this.lastError = e.state ? `${e.message}` : e.message;
        },
      },
    });
  }

  private setState(state: ServerState) {
    this.state = state;
    this.install = installStateChanged(this.install, state);
    // A sign-in asked for by a running server is moot once it stops.
    if (state !== 'running' && state !== 'starting') this.runPrompt = null;
  }

  /** Calls `fn` with every `server.file` event; the returned function stops it. */
  onFiles(fn: (e: FileEvent) => void): () => void {
    this.fileListeners.add(fn);
    return () => this.fileListeners.delete(fn);
  }

  /** Calls `fn` with every `server.backup` event; the returned function stops it. */
  onBackups(fn: (e: BackupEvent) => void): () => void {
    this.backupListeners.add(fn);
    return () => this.backupListeners.delete(fn);
  }

  /** Calls `fn` with every `schedule.run` event; the returned function stops it. */
  onSchedules(fn: (e: ScheduleEvent) => void): () => void {
    this.scheduleListeners.add(fn);
    return () => this.scheduleListeners.delete(fn);
  }

  /** The stored install status: tells how an install ended that we did not watch end. */
  settleInstall(status: InstallStatus | null | undefined) {
    this.install = settleFromStatus(this.install, status, this.state);
  }

  /** Close the running server's prompt. */
  dismissRunPrompt() {
    this.dismissedPrompt = this.runPrompt;
    this.runPrompt = null;
  }

  /** Forget how the last install ended (the user closed the notice). */
  dismissInstallOutcome() {
    this.install = { ...this.install, outcome: null, error: null };
  }

  private addStats(s: Stats) {
    this.stats = s;
    if (this.samples.add(s)) this.samplesVersion++;
  }

  command(cmd: string): boolean {
    this.lastError = null;
    const ok = this.socket?.send({ type: 'command', command: cmd }) ?? false;
    if (!ok) this.lastError = 'Not connected: the command was not sent';
    return ok;
  }

  power(action: PowerAction): boolean {
    this.lastError = null;
    const ok = this.socket?.send({ type: 'power', action }) ?? false;
    if (!ok) this.lastError = 'Not connected: try again in a moment';
    return ok;
  }

  retryNow() {
    this.socket?.retryNow();
  }

  stop() {
    this.socket?.close();
    this.socket = null;
    this.term = null;
  }
}
