import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import {
  buildCron,
  defaultCronForm,
  defaultTask,
  describeTask,
  draftFromTask,
  editorFormFrom,
  formatDuration,
  formatLocal,
  intervalForm,
  intervalSecs,
  mergeRuns,
  moveItem,
  newDraft,
  newEditorForm,
  parseCron,
  parseTime,
  previewField,
  previewQuery,
  removeSchedule,
  runDuration,
  saveErrors,
  scheduleAbilities,
  scheduleBody,
  schedulesApi,
  stripTask,
  taskField,
  taskFromDraft,
  timeZones,
  upsertSchedule,
  validateSchedule,
  validateTask,
  validateTasks,
  type CronForm,
} from './schedules';
import type { Schedule, ScheduleRun, ScheduleTask } from './types';

const form = (more: Partial<CronForm>): CronForm => ({ ...defaultCronForm(), ...more });

function schedule(more: Partial<Schedule> = {}): Schedule {
  return {
    id: 'sc1',
    server_id: 's1',
    name: 'Nightly',
    trigger: { kind: 'cron', expression: '0 4 * * *', timezone: 'Europe/Berlin' },
    enabled: true,
    only_when_online: false,
    missed: 'skip',
    tasks: [{ action: 'command', command: 'say hi' }],
    next_run_at: 1_000,
    last_run_at: null,
    last_outcome: null,
    running: false,
    description: 'At 04:00 (Europe/Berlin)',
    created_by: 'u1',
    created_at: 10,
    updated_at: 10,
    ...more,
  };
}

const run = (id: string, started_at: number, more: Partial<ScheduleRun> = {}): ScheduleRun => ({
  id,
  schedule_id: 'sc1',
  due_at: null,
  cause: 'manual',
  state: 'succeeded',
  started_at,
  finished_at: started_at + 5,
  error: null,
  tasks: [],
  ...more,
});

describe('the cron builder', () => {
  it('builds each preset', () => {
    expect(buildCron(form({ preset: 'hourly', minute: 15 }))).toBe('15 * * * *');
    expect(buildCron(form({ preset: 'daily', time: '04:00' }))).toBe('0 4 * * *');
    expect(buildCron(form({ preset: 'daily', time: '23:59' }))).toBe('59 23 * * *');
    expect(buildCron(form({ preset: 'weekly', time: '06:30', weekday: 1 }))).toBe('30 6 * * 1');
    expect(buildCron(form({ preset: 'monthly', time: '00:05', day: 15 }))).toBe('5 0 15 * *');
    expect(buildCron(form({ preset: 'custom', expression: '  */5 * * * 1-5 ' }))).toBe('*/5 * * * 1-5');
  });

  it('keeps out-of-range numbers in range', () => {
    expect(buildCron(form({ preset: 'hourly', minute: 75 }))).toBe('59 * * * *');
    expect(buildCron(form({ preset: 'monthly', day: 0 }))).toBe('0 4 1 * *');
    expect(buildCron(form({ preset: 'daily', time: 'nonsense' }))).toBe('0 0 * * *');
  });

  it('reads times of day', () => {
    expect(parseTime('04:00')).toEqual([4, 0]);
    expect(parseTime('4:05')).toEqual([4, 5]);
    expect(parseTime('24:00')).toBeNull();
    expect(parseTime('12:60')).toBeNull();
    expect(parseTime('')).toBeNull();
  });

  it('parses an expression back into its preset', () => {
    expect(parseCron('0 4 * * *')).toMatchObject({ preset: 'daily', time: '04:00' });
    expect(parseCron('15 * * * *')).toMatchObject({ preset: 'hourly', minute: 15 });
    expect(parseCron('30 6 * * 1')).toMatchObject({ preset: 'weekly', time: '06:30', weekday: 1 });
    expect(parseCron('0 0 * * 7')).toMatchObject({ preset: 'weekly', weekday: 0 });
    expect(parseCron('5 0 15 * *')).toMatchObject({ preset: 'monthly', time: '00:05', day: 15 });
    expect(parseCron('@daily')).toMatchObject({ preset: 'daily', time: '00:00' });
    expect(parseCron('@hourly')).toMatchObject({ preset: 'hourly', minute: 0 });
    expect(parseCron('@weekly')).toMatchObject({ preset: 'weekly', weekday: 0, time: '00:00' });
    expect(parseCron('@monthly')).toMatchObject({ preset: 'monthly', day: 1 });
  });

  it('leaves anything else custom, as typed', () => {
    for (const e of ['*/5 * * * *', '0 4 * * 1-5', '0 4,16 * * *', '0 4 1 1 *', '0 4 1 * 1', '@yearly', '0 4 * *', 'rubbish', '60 4 * * *']) {
      expect(parseCron(e)).toMatchObject({ preset: 'custom', expression: e });
    }
  });

  it('round-trips every preset', () => {
    for (const f of [
      form({ preset: 'hourly', minute: 42 }),
      form({ preset: 'daily', time: '04:00' }),
      form({ preset: 'weekly', time: '13:07', weekday: 6 }),
      form({ preset: 'monthly', time: '02:30', day: 31 }),
    ]) {
      const back = parseCron(buildCron(f));
      expect(buildCron(back)).toBe(buildCron(f));
      expect(back.preset).toBe(f.preset);
    }
  });
});

describe('intervals', () => {
  it('converts minutes and hours', () => {
    expect(intervalSecs(90, 'minutes')).toBe(5400);
    expect(intervalSecs(2, 'hours')).toBe(7200);
    expect(intervalForm(7200)).toEqual({ value: 2, unit: 'hours' });
    expect(intervalForm(5400)).toEqual({ value: 90, unit: 'minutes' });
    expect(intervalForm(60)).toEqual({ value: 1, unit: 'minutes' });
  });
});

describe('tasks', () => {
  it('has a default per action that passes the rules (but an empty command)', () => {
    expect(defaultTask('power')).toEqual({ action: 'power', power: 'restart' });
    expect(defaultTask('command')).toEqual({ action: 'command', command: '' });
    expect(defaultTask('backup')).toEqual({ action: 'backup' });
    expect(defaultTask('wait_for')).toEqual({ action: 'wait_for', state: 'running' });
    expect(defaultTask('delay')).toEqual({ action: 'delay', secs: 30 });
    for (const a of ['power', 'backup', 'wait_for', 'delay'] as const) expect(validateTask(defaultTask(a))).toEqual({});
    expect(validateTask(defaultTask('command'))).toHaveProperty('command');
  });

  it('strips the fields an action does not take, and empty optional ones', () => {
    const loose: ScheduleTask = {
      action: 'command',
      command: 'say hi',
      power: 'kill',
      name: 'x',
      ignore: ['a'],
      locked: true,
      state: 'running',
      secs: 5,
      continue_on_failure: false,
    };
    expect(stripTask(loose)).toEqual({ action: 'command', command: 'say hi' });
    expect(stripTask({ action: 'backup', name: '  ', ignore: ['', ' '], locked: false, command: 'x' })).toEqual({ action: 'backup' });
    expect(stripTask({ action: 'backup', name: 'Nightly', ignore: ['*.log', ''], locked: true })).toEqual({
      action: 'backup',
      name: 'Nightly',
      ignore: ['*.log'],
      locked: true,
    });
    expect(stripTask({ action: 'delay', secs: 10, continue_on_failure: true, timeout_secs: 20, power: 'start' })).toEqual({
      action: 'delay',
      secs: 10,
      continue_on_failure: true,
      timeout_secs: 20,
    });
  });

  it('turns a draft into what the API takes and back', () => {
    const d = newDraft('wait_for');
    d.wait = 'console';
    d.console = 'Done \\(';
    d.command = 'left over from another action';
    d.timeout = 60;
    expect(taskFromDraft(d)).toEqual({ action: 'wait_for', console: 'Done \\(', timeout_secs: 60 });
    const b = draftFromTask({ action: 'backup', name: 'n', ignore: ['a', 'b'], locked: true, continue_on_failure: true });
    expect(b.ignore).toBe('a\nb');
    expect(taskFromDraft(b)).toEqual({ action: 'backup', name: 'n', ignore: ['a', 'b'], locked: true, continue_on_failure: true });
    // An emptied number input is no timeout.
    const c = newDraft('command');
    c.command = 'save-all';
    c.timeout = null;
    expect(taskFromDraft(c)).toEqual({ action: 'command', command: 'save-all' });
    expect(newDraft().key).not.toBe(newDraft().key);
  });

  it('checks the rules the API checks', () => {
    expect(validateTask({ action: 'command', command: '' })).toEqual({ command: 'command must not be empty' });
    expect(validateTask({ action: 'command', command: 'a\nb' }).command).toMatch(/one line/);
    expect(validateTask({ action: 'command', command: 'say\thi' })).toEqual({});
    expect(validateTask({ action: 'command', command: 'x'.repeat(4097) }).command).toMatch(/4096/);
    expect(validateTask({ action: 'power' }).power).toMatch(/start, stop/);
    expect(validateTask({ action: 'backup', name: 'x'.repeat(101) }).name).toMatch(/1 to 100/);
    expect(validateTask({ action: 'backup', ignore: Array(101).fill('a') }).ignore).toMatch(/100 lines/);
    expect(validateTask({ action: 'wait_for' }).state).toMatch(/either/);
    expect(validateTask({ action: 'wait_for', state: 'running', console: 'x' }).state).toMatch(/either/);
    expect(validateTask({ action: 'wait_for', console: '' }).console).toMatch(/1 to 500/);
    expect(validateTask({ action: 'wait_for', console: 'Done' })).toEqual({});
    expect(validateTask({ action: 'delay', secs: 0 }).secs).toMatch(/1 to 86400/);
    expect(validateTask({ action: 'delay', secs: 1.5 }).secs).toBeDefined();
    expect(validateTask({ action: 'delay', secs: 86400 })).toEqual({});
    expect(validateTask({ action: 'delay', secs: 5, timeout_secs: 0 }).timeout_secs).toMatch(/timeout/);
  });

  it('keys the chain\'s problems as the API does', () => {
    expect(validateTasks([])).toEqual({ tasks: 'a schedule has 1 to 20 tasks' });
    expect(Object.keys(validateTasks(Array(21).fill({ action: 'delay', secs: 1 })))).toEqual(['tasks']);
    expect(validateTasks([{ action: 'delay', secs: 1 }, { action: 'command', command: '' }])).toEqual({ 'tasks[1].command': 'command must not be empty' });
  });

  it('describes a task in one line', () => {
    expect(describeTask({ action: 'command', command: 'say hi' })).toBe('Send command: say hi');
    expect(describeTask({ action: 'power', power: 'restart' })).toBe('Restart the server');
    expect(describeTask({ action: 'power', power: 'kill' })).toBe('Kill the server');
    expect(describeTask({ action: 'backup' })).toBe('Make a backup');
    expect(describeTask({ action: 'backup', name: 'Nightly', ignore: ['*.log'], locked: true })).toBe('Make a backup “Nightly”, leaving out 1 pattern, locked');
    expect(describeTask({ action: 'wait_for', state: 'offline' })).toBe('Wait until the server is offline');
    expect(describeTask({ action: 'wait_for', console: 'Done' })).toBe('Wait for a console line matching Done');
    expect(describeTask({ action: 'delay', secs: 30 })).toBe('Wait 30 s');
    expect(describeTask({ action: 'delay', secs: 300 })).toBe('Wait 5m 0s');
  });

  it('moves tasks up and down', () => {
    expect(moveItem([1, 2, 3], 0, 1)).toEqual([2, 1, 3]);
    expect(moveItem([1, 2, 3], 2, -1)).toEqual([1, 3, 2]);
    const same = [1, 2, 3];
    expect(moveItem(same, 0, -1)).toBe(same);
    expect(moveItem(same, 2, 1)).toBe(same);
  });
});

describe('durations and times', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(2_340)).toBe('2.3 s');
    expect(formatDuration(12_300)).toBe('12 s');
    expect(formatDuration(65_000)).toBe('1m 5s');
    expect(formatDuration(3_720_000)).toBe('1h 2m');
    expect(formatDuration(90_000_000)).toBe('1d 1h');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-5)).toBe('—');
  });

  it('measures a run, a running one up to now', () => {
    expect(runDuration({ started_at: 1000, finished_at: 4000 })).toBe(3000);
    expect(runDuration({ started_at: 1000, finished_at: null }, 1500)).toBe(500);
  });

  it('shows a moment in a given zone', () => {
    const at = Date.UTC(2026, 11, 3, 3, 0); // 04:00 in Berlin (winter)
    expect(formatLocal(at, 'Europe/Berlin', 'en-GB')).toMatch(/04:00/);
    expect(formatLocal(at, 'UTC', 'en-GB')).toMatch(/03:00/);
    expect(formatLocal(null)).toBe('—');
  });

  it('lists zones with UTC first, the browser\'s own and extra ones in it', () => {
    const z = timeZones(['Mars/Olympus'], () => ['Europe/Berlin', 'America/New_York']);
    expect(z[0]).toBe('UTC');
    expect(z).toContain('Europe/Berlin');
    expect(z).toContain('Mars/Olympus');
    expect(timeZones([], () => { throw new Error('no'); })).toContain('Europe/Berlin');
  });
});

describe('the editor', () => {
  it('makes the body from the form', () => {
    const f = newEditorForm('Europe/Berlin');
    f.name = '  Nightly ';
    f.tasks[0].command = 'say hi';
    expect(scheduleBody(f)).toEqual({
      name: 'Nightly',
      trigger: { kind: 'cron', expression: '0 4 * * *', timezone: 'Europe/Berlin' },
      enabled: true,
      only_when_online: false,
      missed: 'skip',
      tasks: [{ action: 'command', command: 'say hi' }],
    });
    f.kind = 'interval';
    f.intervalValue = 30;
    f.intervalUnit = 'minutes';
    expect(scheduleBody(f).trigger).toEqual({ kind: 'interval', secs: 1800 });
  });

  it('fills the form from a schedule', () => {
    const f = editorFormFrom(schedule({ trigger: { kind: 'cron', expression: '30 6 * * 1', timezone: 'Asia/Tokyo' } }), 'UTC');
    expect(f.cron).toMatchObject({ preset: 'weekly', weekday: 1, time: '06:30' });
    expect(f.timezone).toBe('Asia/Tokyo');
    expect(f.tasks.map(taskFromDraft)).toEqual([{ action: 'command', command: 'say hi' }]);
    const g = editorFormFrom(schedule({ trigger: { kind: 'interval', secs: 7200 } }));
    expect([g.kind, g.intervalValue, g.intervalUnit]).toEqual(['interval', 2, 'hours']);
    expect(scheduleBody(g).trigger).toEqual({ kind: 'interval', secs: 7200 });
  });

  it('checks the whole body', () => {
    const f = newEditorForm('UTC');
    expect(validateSchedule(scheduleBody(f))).toEqual({
      name: 'a name must be 1 to 100 characters',
      'tasks[0].command': 'command must not be empty',
    });
    f.kind = 'interval';
    f.intervalValue = 30;
    f.intervalUnit = 'minutes';
    f.name = 'x';
    f.tasks[0].command = 'hi';
    expect(validateSchedule(scheduleBody(f))).toEqual({});
    f.intervalValue = 0.5;
    expect(validateSchedule(scheduleBody(f))).toHaveProperty(['trigger.secs']);
  });

  it('puts the API\'s errors at the field they name, a task\'s included', () => {
    const e = (field: string | undefined, status = 422) => new ApiError(status, { code: 'invalid', message: 'bad', field });
    expect(saveErrors(e('tasks[1].command'), 2)).toEqual({ fields: { 'tasks[1].command': 'bad' }, general: null });
    expect(saveErrors(e('tasks[5].command'), 2)).toEqual({ fields: {}, general: 'bad' });
    expect(saveErrors(e('trigger.expression'), 1).fields).toEqual({ 'trigger.expression': 'bad' });
    expect(saveErrors(e('name'), 1).fields).toEqual({ name: 'bad' });
    expect(saveErrors(e(undefined, 403), 1)).toEqual({ fields: {}, general: 'Not allowed: bad' });
    expect(taskField('tasks[3].timeout_secs')).toEqual({ index: 3, field: 'timeout_secs' });
    expect(taskField('name')).toBeNull();
  });

  it('asks the preview and maps its fields', () => {
    expect(previewQuery({ kind: 'cron', expression: '0 4 * * *', timezone: 'Europe/Berlin' })).toBe(
      '/schedules/preview?cron=0+4+*+*+*&timezone=Europe%2FBerlin&count=5',
    );
    expect(previewQuery({ kind: 'interval', secs: 3600 }, 3)).toBe('/schedules/preview?interval=3600&count=3');
    expect(previewField('cron')).toBe('trigger.expression');
    expect(previewField('timezone')).toBe('trigger.timezone');
    expect(previewField('interval')).toBe('trigger.secs');
    expect(previewField('count')).toBeUndefined();
  });
});

describe('the list', () => {
  it('adds, replaces and removes', () => {
    const a = schedule({ id: 'a', created_at: 1 });
    const b = schedule({ id: 'b', created_at: 2 });
    expect(upsertSchedule([b], a).map((s) => s.id)).toEqual(['a', 'b']);
    expect(upsertSchedule([a, b], { ...a, name: 'Renamed' })[0].name).toBe('Renamed');
    expect(removeSchedule([a, b], 'a').map((s) => s.id)).toEqual(['b']);
  });

  it('merges pages of runs newest first without doubles', () => {
    const fresh = [run('r3', 30, { state: 'succeeded' }), run('r2', 20)];
    const old = [run('r3', 30, { state: 'running' }), run('r1', 10)];
    const m = mergeRuns(fresh, old);
    expect(m.map((r) => r.id)).toEqual(['r3', 'r2', 'r1']);
    expect(m[0].state).toBe('succeeded');
  });

  it('knows what the caller may do and where the API is', () => {
    expect(scheduleAbilities(['schedule.read', 'schedule.update'])).toEqual({ read: true, create: false, update: true, delete: false });
    expect(scheduleAbilities(undefined).read).toBe(false);
    expect(schedulesApi('s 1')).toBe('/servers/s%201/schedules');
    expect(schedulesApi('s1', 'a', '/runs')).toBe('/servers/s1/schedules/a/runs');
  });
});
