import { describe, expect, it } from 'vitest';
import {
  applyHello,
  idleInstall,
  installStateChanged,
  progressLabel,
  reduceInstall,
  samePrompt,
  settleFromStatus,
  stepLabel,
  type InstallView,
  type LiveView,
} from './install';
import type { Hello, InstallEvent, InstallStatus, ServerState } from './types';

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

describe('hello', () => {
  const signIn = { url: 'https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=LATE-1234', code: 'LATE-1234', message: 'Sign in' };
  const fresh = (): LiveView => ({ install: idleInstall(), runPrompt: null });
  const hello = (state: ServerState | null, install: InstallEvent | null = null, prompt: Hello['prompt'] = null) => ({ state, install, prompt });

  it('joined mid-install: the last event is the step, the open prompt is the install’s', () => {
    const v = applyHello(
      fresh(),
      hello('installing', ev('step', { step: 1, steps: 3, kind: 'download', message: 'download https://x/server.jar to server.jar' }), signIn),
    );
    expect(v.install.active).toBe(true);
    expect(stepLabel(v.install)).toBe('Step 2 of 3: download');
    expect(v.install.message).toBe('download https://x/server.jar to server.jar');
    expect(v.install.prompt).toEqual(signIn);
    expect(v.runPrompt).toBeNull();
    // The events that follow carry on from there.
    const s = reduceInstall(v.install, ev('progress', { step: 1, steps: 3, kind: 'download', bytes: 1024, total_bytes: 4096, percent: 25 }));
    expect(progressLabel(s)).toBe('25 % · 1.0 KiB of 4.0 KiB');
    expect(s.prompt).toEqual(signIn);
    expect(reduceInstall(s, ev('cancelled')).prompt).toBeNull();
  });

  it('joined during a download: progress alone tells the step and how far it got', () => {
    const v = applyHello(fresh(), hello('installing', ev('progress', { step: 0, steps: 2, kind: 'download', bytes: 2048, percent: 50 })));
    expect(v.install.active).toBe(true);
    expect(stepLabel(v.install)).toBe('Step 1 of 2: download');
    expect(v.install.percent).toBe(50);
    expect(v.install.prompt).toBeNull();
  });

  it('installing without an event yet, or just started', () => {
    expect(applyHello(fresh(), hello('installing')).install).toMatchObject({ active: true, step: null });
    const v = applyHello(fresh(), hello('installing', ev('started', { steps: 2 }), signIn));
    expect(v.install).toMatchObject({ active: true, steps: 2, prompt: signIn });
    expect(stepLabel(v.install)).toBe('Installing…');
  });

  it('a running server’s open prompt; none when nothing runs or is open', () => {
    expect(applyHello(fresh(), hello('running', null, signIn))).toEqual({ install: idleInstall(), runPrompt: signIn });
    expect(applyHello(fresh(), hello('starting', null, signIn)).runPrompt).toEqual(signIn);
    expect(applyHello(fresh(), hello('offline', null, signIn)).runPrompt).toBeNull();
    expect(applyHello(fresh(), hello('running'))).toEqual(fresh());
    expect(applyHello(fresh(), hello('offline'))).toEqual(fresh());
  });

  it('a hello without a state (node unreachable) keeps what the page knew', () => {
    const during = applyHello(fresh(), hello('installing', ev('step', { step: 0, steps: 1, kind: 'command' })));
    const v = applyHello(during, hello(null));
    expect(v.install).toEqual({ ...during.install, prompt: null });
  });

  describe('after a reconnect', () => {
    const watching = (): LiveView => {
      const v = applyHello(fresh(), hello('installing', ev('started', { steps: 3 })));
      let s = reduceInstall(v.install, ev('step', { step: 0, steps: 3, kind: 'download', message: 'download https://x/a.zip to a.zip' }));
      s = reduceInstall(s, ev('progress', { step: 0, bytes: 10, percent: 10 }));
      s = reduceInstall(s, ev('prompt', { prompt: signIn }));
      return { ...v, install: s };
    };

    it('the same install carries on: its step and message are kept, newer progress taken', () => {
      const v = applyHello(watching(), hello('installing', ev('progress', { step: 0, steps: 3, kind: 'download', bytes: 90, percent: 90 }), signIn));
      expect(v.install.message).toBe('download https://x/a.zip to a.zip');
      expect(v.install.percent).toBe(90);
      expect(v.install.prompt).toEqual(signIn);
    });

    it('moved on to a later step, the prompt answered meanwhile: the step is new, the prompt gone', () => {
      const v = applyHello(watching(), hello('installing', ev('step', { step: 2, steps: 3, kind: 'command', message: 'run ./setup.sh' })));
      expect(stepLabel(v.install)).toBe('Step 3 of 3: command');
      expect(v.install.message).toBe('run ./setup.sh');
      expect(v.install.percent).toBeNull();
      expect(v.install.prompt).toBeNull();
    });

    it('a later step seen only through its progress forgets the old step’s message', () => {
      const v = applyHello(watching(), hello('installing', ev('progress', { step: 1, steps: 3, kind: 'extract', message: '12 entries' })));
      expect(stepLabel(v.install)).toBe('Step 2 of 3: extract');
      expect(v.install.message).toBeNull();
      expect(progressLabel(v.install)).toBe('12 entries');
    });

    it('the install ended meanwhile: no longer installing, and the stored status tells how', () => {
      const v = applyHello(watching(), hello('offline'));
      expect(v.install.active).toBe(false);
      expect(v.install.prompt).toBeNull();
      expect(v.runPrompt).toBeNull();
      expect(settleFromStatus(v.install, { state: 'failed', started_at: 1, error: 'no space' }, 'offline')).toMatchObject({
        outcome: 'failed',
        error: 'no space',
      });
    });

    it('the install ended and the server runs, asking for a sign-in of its own', () => {
      const own = { url: 'https://login.test/device', code: 'RUN-1', message: 'Sign in' };
      const v = applyHello(watching(), hello('running', null, own));
      expect(v.install).toEqual(idleInstall());
      expect(v.runPrompt).toEqual(own);
      // Reconnecting again once it was answered takes it away.
      expect(applyHello(v, hello('running')).runPrompt).toBeNull();
    });

    it('another install started meanwhile: nothing of the last one is kept', () => {
      const ended = reduceInstall(watching().install, ev('failed', { message: 'boom' }));
      const v = applyHello({ install: ended, runPrompt: null }, hello('installing', ev('started', { steps: 1 })));
      expect(v.install).toEqual({ ...idleInstall(), active: true, steps: 1 });
    });

    it('a running server’s prompt goes when the server is found stopped', () => {
      const v = applyHello({ install: idleInstall(), runPrompt: signIn }, hello('offline'));
      expect(v.runPrompt).toBeNull();
    });
  });

  it('tells a repeated prompt from a new one', () => {
    expect(samePrompt(signIn, { ...signIn, message: 'other words' })).toBe(true);
    expect(samePrompt(signIn, { ...signIn, code: 'NEW-1' })).toBe(false);
    expect(samePrompt({ url: 'https://a', message: '' }, { url: 'https://a', code: null, message: '' })).toBe(true);
    expect(samePrompt(signIn, null)).toBe(false);
    expect(samePrompt(null, null)).toBe(true);
  });
});
