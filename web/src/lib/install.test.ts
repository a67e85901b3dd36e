import { describe, expect, it } from 'vitest';
import {
  idleInstall,
  installStateChanged,
  progressLabel,
  reduceInstall,
  settleFromStatus,
  stepLabel,
  type InstallView,
} from './install';
import type { InstallEvent, InstallStatus, ServerState } from './types';

const ev = (phase: InstallEvent['phase'], more: Partial<InstallEvent> = {}): InstallEvent => ({ server: 's1', phase, ...more });
const fold = (events: InstallEvent[], from: InstallView = idleInstall()) => events.reduce(reduceInstall, from);

describe('install reducer', () => {
  it('follows steps and progress', () => {
    let s = fold([ev('started', { steps: 3 })]);
    expect(s.active).toBe(true);
    expect(stepLabel(s)).toBe('Installing…');
    s = reduceInstall(s, ev('step', { step: 1, steps: 3, kind: 'download', message: 'download https://x/a.zip' }));
    expect(stepLabel(s)).toBe('Step 2 of 3: download');
    expect(s.message).toBe('download https://x/a.zip');
    expect(progressLabel(s)).toBeNull();
    s = reduceInstall(s, ev('progress', { step: 1, steps: 3, kind: 'download', bytes: 512 * 1024, total_bytes: 2 * 1024 * 1024, percent: 25 }));
    expect(s.percent).toBe(25);
    expect(progressLabel(s)).toBe('25 % · 512 KiB of 2.0 MiB');
    expect(s.message).toBe('download https://x/a.zip');
    // A new step forgets the last one's progress.
    s = reduceInstall(s, ev('step', { step: 2, steps: 3, kind: 'extract' }));
    expect(s.percent).toBeNull();
    expect(s.bytes).toBeNull();
    expect(stepLabel(s)).toBe('Step 3 of 3: extract');
  });

  it('shows bytes when the size is unknown, and extract notes', () => {
    let s = fold([ev('started', { steps: 1 }), ev('step', { step: 0, steps: 1, kind: 'download' })]);
    s = reduceInstall(s, ev('progress', { step: 0, bytes: 3 * 1024 * 1024 }));
    expect(s.percent).toBeNull();
    expect(progressLabel(s)).toBe('3.0 MiB');
    s = reduceInstall(s, ev('progress', { step: 0, kind: 'extract', bytes: 1024, message: '12 entries' }));
    expect(progressLabel(s)).toBe('1.0 KiB · 12 entries');
  });

  it('clamps percent', () => {
    const s = fold([ev('started'), ev('progress', { percent: 140 })]);
    expect(s.percent).toBe(100);
  });

  it('keeps a prompt until the install ends', () => {
    const prompt = { url: 'https://example.test/device', code: 'ABCD-1234', message: 'Sign in' };
    let s = fold([ev('started', { steps: 1 }), ev('step', { step: 0, steps: 1, kind: 'command' }), ev('prompt', { prompt, message: 'Sign in' })]);
    expect(s.prompt).toEqual(prompt);
    s = reduceInstall(s, ev('progress', { step: 0, bytes: 10 }));
    expect(s.prompt).toEqual(prompt);
    s = reduceInstall(s, ev('finished'));
    expect(s.active).toBe(false);
    expect(s.prompt).toBeNull();
    expect(s.outcome).toBe('finished');
  });

  it('failed and cancelled end the installing state', () => {
    const failed = fold([ev('started', { steps: 2 }), ev('step', { step: 1, steps: 2, kind: 'download' }), ev('failed', { message: 'step 2 of 2 (download): 404' })]);
    expect(failed.active).toBe(false);
    expect(failed.outcome).toBe('failed');
    expect(failed.error).toBe('step 2 of 2 (download): 404');
    expect(fold([ev('started'), ev('failed')]).error).toBe('The install failed');
    const cancelled = fold([ev('started'), ev('prompt', { prompt: { url: 'https://x', message: '' } }), ev('cancelled', { message: 'cancelled' })]);
    expect(cancelled.active).toBe(false);
    expect(cancelled.outcome).toBe('cancelled');
    expect(cancelled.prompt).toBeNull();
    expect(cancelled.error).toBeNull();
  });

  it('a new install clears the last outcome', () => {
    const s = fold([ev('started'), ev('failed', { message: 'x' }), ev('started', { steps: 1 })]);
    expect(s.active).toBe(true);
    expect(s.outcome).toBeNull();
    expect(s.error).toBeNull();
  });

  it('a step seen without its start (joined late) still shows as installing', () => {
    const s = fold([ev('step', { step: 0, steps: 2, kind: 'script' })]);
    expect(s.active).toBe(true);
    expect(stepLabel(s)).toBe('Step 1 of 2: script');
  });

  it('ignores unknown phases', () => {
    const s = fold([ev('started')]);
    expect(reduceInstall(s, ev('later' as InstallEvent['phase']))).toBe(s);
  });
});

describe('install and server state', () => {
  it('installing starts an install view; leaving it ends one even without a finish event', () => {
    let s = installStateChanged(idleInstall(), 'installing');
    expect(s.active).toBe(true);
    s = reduceInstall(s, ev('prompt', { prompt: { url: 'https://x', message: '' } }));
    s = installStateChanged(s, 'offline');
    expect(s.active).toBe(false);
    expect(s.prompt).toBeNull();
    // The failed event that follows the status change still tells the error.
    s = reduceInstall(s, ev('failed', { message: 'boom' }));
    expect(s.outcome).toBe('failed');
    expect(s.error).toBe('boom');
  });

  it('a server that starts forgets how its last install ended', () => {
    const cancelled = fold([ev('started'), ev('cancelled')]);
    expect(installStateChanged(cancelled, 'offline').outcome).toBe('cancelled');
    expect(installStateChanged(cancelled, 'starting')).toEqual(idleInstall());
    const failed = fold([ev('started'), ev('failed', { message: 'x' })]);
    expect(installStateChanged(failed, 'running')).toEqual(idleInstall());
    expect(settleFromStatus(idleInstall(), { state: 'failed', started_at: 1, error: 'x' }, 'running')).toEqual(idleInstall());
  });

  it('other states leave an idle view alone', () => {
    const s = idleInstall();
    expect(installStateChanged(s, 'running')).toBe(s);
  });

  it('starts from the stored status: only failures and cancels are shown', () => {
    const settle = (st: InstallStatus | null, state: ServerState) =>
      settleFromStatus(installStateChanged(idleInstall(), state), st, state);
    expect(settle({ state: 'failed', started_at: 1, error: 'no space' }, 'offline')).toMatchObject({ outcome: 'failed', error: 'no space', active: false });
    expect(settle({ state: 'failed', started_at: 1 }, 'crashed').error).toBe('The install failed');
    expect(settle({ state: 'cancelled', started_at: 1 }, 'offline').outcome).toBe('cancelled');
    expect(settle({ state: 'succeeded', started_at: 1 }, 'offline').outcome).toBeNull();
    expect(settle({ state: 'running', started_at: 1 }, 'installing').active).toBe(true);
    expect(settle(null, 'offline')).toEqual(idleInstall());
  });

  it('the stored status fills in an outcome that was missed, never a live one', () => {
    const ended = installStateChanged(installStateChanged(idleInstall(), 'installing'), 'offline');
    expect(settleFromStatus(ended, { state: 'failed', started_at: 1, error: 'disk full' })).toMatchObject({ outcome: 'failed', error: 'disk full' });
    const live = reduceInstall(ended, ev('finished'));
    expect(settleFromStatus(live, { state: 'failed', started_at: 1, error: 'old' }).outcome).toBe('finished');
    const active = installStateChanged(idleInstall(), 'installing');
    expect(settleFromStatus(active, { state: 'failed', started_at: 1 })).toBe(active);
  });
});
