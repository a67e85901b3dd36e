// A server's install as the page shows it, folded from `server.install` events, state
// changes, each connection's `hello` and the stored install status. Pure, so it can be
// tested.

import { formatBytes } from './format';
import type { Hello, InstallEvent, InstallStatus, Prompt, ServerState } from './types';

export type InstallOutcome = 'finished' | 'failed' | 'cancelled';

export interface InstallView {
  /** An install runs now. */
  active: boolean;
  /** 0-based index of the current step. */
  step: number | null;
  steps: number | null;
  /** The current step's kind ("download", "command", ...). */
  kind: string | null;
  /** What the current step does ("download https://…"). */
  message: string | null;
  /** A progress note within the step ("120 entries"). */
  detail: string | null;
  bytes: number | null;
  totalBytes: number | null;
  percent: number | null;
  /** The install asks the user to act (sign in with a code). */
  prompt: Prompt | null;
  /** How the last install ended, when it ended while we watched (or as stored). */
  outcome: InstallOutcome | null;
  error: string | null;
}

export const idleInstall = (): InstallView => ({
  active: false,
  step: null,
  steps: null,
  kind: null,
  message: null,
  detail: null,
  bytes: null,
  totalBytes: null,
  percent: null,
  prompt: null,
  outcome: null,
  error: null,
});

const running = (): InstallView => ({ ...idleInstall(), active: true });

const num = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The view after one `server.install` event. */
export function reduceInstall(s: InstallView, ev: InstallEvent): InstallView {
  switch (ev.phase) {
    case 'started':
      return { ...running(), steps: num(ev.steps) };
    case 'step':
      return {
        ...(s.active ? s : running()),
        active: true,
        outcome: null,
        error: null,
        step: num(ev.step),
        steps: num(ev.steps) ?? s.steps,
        kind: ev.kind ?? null,
        message: ev.message ?? null,
        detail: null,
        bytes: null,
        totalBytes: null,
        percent: null,
      };
    case 'progress': {
      const base = s.active ? s : running();
      const sameStep = ev.step == null || ev.step === base.step;
      return {
        ...base,
        active: true,
        step: num(ev.step) ?? base.step,
        steps: num(ev.steps) ?? base.steps,
        kind: ev.kind ?? base.kind,
        message: sameStep ? base.message : null,
        detail: ev.message ?? (sameStep ? base.detail : null),
        bytes: num(ev.bytes),
        totalBytes: num(ev.total_bytes),
        percent: num(ev.percent) === null ? null : Math.max(0, Math.min(100, ev.percent!)),
      };
    }
    case 'prompt':
      return { ...(s.active ? s : running()), active: true, prompt: ev.prompt ?? s.prompt };
    case 'finished':
      return { ...s, active: false, prompt: null, outcome: 'finished', error: null, percent: null };
    case 'failed':
      return { ...s, active: false, prompt: null, outcome: 'failed', error: ev.message || 'The install failed' };
    case 'cancelled':
      return { ...s, active: false, prompt: null, outcome: 'cancelled', error: null };
    default:
      return s;
  }
}

/**
 * The view after the server's state changed (or was first told): installing starts an
 * install when none is known; any other state ends one, so a missed finish never
 * leaves the page "installing".
 */
export function installStateChanged(s: InstallView, state: ServerState | null): InstallView {
  if (state === 'installing') return s.active ? s : running();
  // A server that starts has moved on from how its last install ended.
  if (isUp(state) && (s.active || s.outcome)) return idleInstall();
  if (s.active) return { ...s, active: false, prompt: null, percent: null };
  return s;
}

const isUp = (state: ServerState | null) => state === 'starting' || state === 'running' || state === 'stopping';

/** The install and a running server's sign-in prompt, as the page shows them. */
export interface LiveView {
  install: InstallView;
  /** A running server asks the user to sign in (`server.prompt`). */
  runPrompt: Prompt | null;
}

/**
 * The view after a connection's `hello` (its first frame, on every reconnect too),
 * which tells a client that joins mid-way what it missed: the state, taken like any
 * change; the running install's last event, taken as if it had just come; and the open
 * sign-in prompt, which replaces whatever the page showed (none open: null). The
 * prompt is the install's while one runs, else the running server's.
 */
export function applyHello(v: LiveView, hello: Pick<Hello, 'state' | 'install' | 'prompt'>): LiveView {
  let install = hello.state ? installStateChanged(v.install, hello.state) : v.install;
  if (hello.install) install = reduceInstall(install, hello.install);
  const prompt = hello.prompt ?? null;
  if (install.active) return { install: { ...install, prompt }, runPrompt: null };
  const up = hello.state === null || hello.state === 'starting' || hello.state === 'running';
  return { install, runPrompt: up ? prompt : null };
}

/** The same prompt (a reconnect's `hello` repeats it). */
export const samePrompt = (a: Prompt | null, b: Prompt | null): boolean =>
  a === b || (!!a && !!b && a.url === b.url && (a.code ?? null) === (b.code ?? null));

/**
 * The stored status once the install ended without us seeing how (a missed event, a
 * reconnect): fills in the outcome and error, never overriding a live one.
 */
export function settleFromStatus(
  s: InstallView,
  status: InstallStatus | null | undefined,
  state: ServerState | null = null,
): InstallView {
  if (s.active || s.outcome || !status || isUp(state) || state === 'installing') return s;
  if (status.state === 'failed') return { ...s, outcome: 'failed', error: status.error || 'The install failed' };
  if (status.state === 'cancelled') return { ...s, outcome: 'cancelled' };
  return s;
}

/** "Step 2 of 3: download"; "Installing…" before the first step is known. */
export function stepLabel(s: InstallView): string {
  if (s.step !== null && s.steps) return `Step ${s.step + 1} of ${s.steps}${s.kind ? `: ${s.kind}` : ''}`;
  if (s.step !== null) return `Step ${s.step + 1}${s.kind ? `: ${s.kind}` : ''}`;
  return 'Installing…';
}

/** "45 % · 12 MiB of 27 MiB", "12 MiB" (size unknown), or null (nothing moved yet). */
export function progressLabel(s: InstallView): string | null {
  const parts: string[] = [];
  if (s.percent !== null) parts.push(`${Math.floor(s.percent)} %`);
  if (s.bytes !== null) parts.push(s.totalBytes ? `${formatBytes(s.bytes)} of ${formatBytes(s.totalBytes)}` : formatBytes(s.bytes));
  if (s.detail) parts.push(s.detail);
  return parts.length ? parts.join(' · ') : null;
}
