// Browser tests of the Schedules tab. `run.mjs` calls `scheduleSteps` with its page
// (signed in as the admin) and helpers; `node e2e/schedules.mjs` runs them alone
// against a garrison of their own.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * @param {object} t
 * @param {(name: string, fn: () => Promise<void>) => Promise<void>} t.step
 * @param {import('playwright-core').Page} t.page
 * @param {string} t.base
 * @param {(sel: string, timeout?: number) => Promise<void>} t.visible
 * @param {(sel: string, text: string, timeout?: number) => Promise<void>} t.waitText
 * @param {(name: string) => Promise<void>} t.shot
 * @param {(method: string, url: string, body?: unknown) => Promise<{status: number, json: any, text: string}>} t.apiCall
 * @param {number} t.T
 */
export async function scheduleSteps(t) {
  const { step, page, base, visible, waitText, shot, apiCall, T } = t;
  const tid = (id) => `[data-testid="${id}"]`;
  const row = (name) => `${tid('schedule-row')}[data-name="${name}"]`;
  const gone = (sel, timeout = T) => page.locator(sel).first().waitFor({ state: 'detached', timeout });
  const count = (sel) => page.locator(sel).count();
  const until = async (what, fn, timeout = T) => {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await page.waitForTimeout(200);
    }
  };
  let id;
  const state = async () => (await apiCall('GET', `/api/servers/${id}`)).json?.state;
  const list = async () => {
    const r = await apiCall('GET', `/api/servers/${id}/schedules`);
    if (r.status !== 200) throw new Error(`GET schedules answered ${r.status}: ${r.text}`);
    return r.json;
  };
  /** The hour and minute of `ms` in `zone`, as "HH:MM". */
  const clock = (ms, zone) =>
    new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone }).format(new Date(ms));
  /** The time of day of `ms` as the page's locale writes it in the browser's zone ("10:00 PM"). */
  const localClock = (ms) => page.evaluate((at) => new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }).format(new Date(at)), ms);

  await step('schedules: a running demo server and the empty Schedules tab', async () => {
    const made = await apiCall('POST', '/api/servers', { name: 'Schedules demo', template: 'demo' });
    if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
    id = made.json.id;
    // The install's own outcome: the stored state may still read offline before the
    // node's installing is recorded.
    await until('the install to end', async () => (await apiCall('GET', `/api/servers/${id}`)).json?.install?.state === 'succeeded', 40_000);
    const perms = (await apiCall('GET', `/api/servers/${id}`)).json?.permissions ?? [];
    for (const p of ['schedule.read', 'schedule.create', 'schedule.update', 'schedule.delete']) {
      if (!perms.includes(p)) throw new Error(`the owner does not hold ${p}: ${perms.join(', ')}`);
    }
    // Running, so the schedule's command task has a console to go to.
    const start = await apiCall('POST', `/api/servers/${id}/power`, { action: 'start' });
    if (start.status >= 300) throw new Error(`start answered ${start.status}: ${start.text}`);
    await until('the server to run', async () => (await state()) === 'running', 30_000);
    await page.goto(`${base}/servers/${id}/console`);
    await visible(tid('tab-schedules'));
    await page.click(tid('tab-schedules'));
    await page.waitForURL(/\/schedules$/);
    await visible(tid('schedules-empty'));
    await shot('schedules-empty');
  });

  await step('schedules: the builder makes a daily 04:00 Europe/Berlin trigger with its preview and next 5 runs', async () => {
    await page.click(tid('schedule-create'));
    await visible(tid('schedule-editor'));
    // The zone starts as the browser's own.
    const own = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    const shownZone = await page.inputValue(tid('cron-timezone'));
    if (shownZone !== own) throw new Error(`the zone starts as ${shownZone}, the browser's is ${own}`);
    const zones = await count(`${tid('cron-timezone')} option`);
    if (zones < 50) throw new Error(`only ${zones} time zones offered`);
    await page.fill(tid('schedule-name'), 'Nightly');
    await page.selectOption(tid('cron-preset'), 'hourly');
    await visible(tid('cron-minute'));
    await page.selectOption(tid('cron-preset'), 'daily');
    await page.fill(tid('cron-time'), '04:00');
    await page.selectOption(tid('cron-timezone'), 'Europe/Berlin');
    await waitText(tid('cron-built'), '0 4 * * *');
    await waitText(tid('schedule-preview-text'), 'Europe/Berlin');
    const desc = (await page.textContent(tid('schedule-preview-text'))) ?? '';
    if (!desc.includes('04:00')) throw new Error(`the preview says ${JSON.stringify(desc)}`);
    await until('5 next runs', async () => (await count(tid('schedule-preview-time'))) === 5);
    const times = await page.$$eval(tid('schedule-preview-time'), (els) => els.map((e) => ({ at: Number(e.dataset.at), utc: e.dataset.utc, text: e.textContent })));
    let last = 0;
    for (const x of times) {
      if (clock(x.at, 'Europe/Berlin') !== '04:00') throw new Error(`a next run is not 04:00 in Berlin: ${x.utc}`);
      if (x.at <= last) throw new Error('the next runs are not in order');
      last = x.at;
      // Shown in the browser's zone.
      const local = await localClock(x.at);
      if (!x.text?.startsWith(`${await page.evaluate((at) => new Intl.DateTimeFormat(undefined, { weekday: 'short' }).format(new Date(at)), x.at)}`) || !x.text?.includes(local)) throw new Error(`${x.utc} shown as ${JSON.stringify(x.text)}, not at ${local} ${own}`);
    }
    // A custom expression the API refuses shows why under it.
    await page.selectOption(tid('cron-preset'), 'custom');
    if ((await page.inputValue(tid('cron-expression'))) !== '0 4 * * *') throw new Error('custom does not start from the preset');
    await page.fill(tid('cron-expression'), '61 4 * * *');
    await visible(tid('schedule-preview-error'));
    await visible(tid('error-trigger.expression'));
    await page.fill(tid('cron-expression'), '0 4 * * *');
    await gone(tid('schedule-preview-error'));
    await page.selectOption(tid('cron-preset'), 'daily');
    await waitText(tid('cron-built'), '0 4 * * *');
    await shot('schedules-builder');
  });

  await step('schedules: a command and a backup task; an empty command and a bad pattern are refused at their task', async () => {
    // The editor starts with one (empty) command task.
    if ((await count(tid('task'))) !== 1) throw new Error('the editor does not start with one task');
    await page.selectOption(tid('task-add-action'), 'backup');
    await page.click(tid('task-add'));
    await page.fill(`${tid('task')}[data-index="1"] ${tid('task-backup-name')}`, 'Scheduled backup');
    await page.click(tid('schedule-save'));
    await visible(tid('error-tasks[0].command'));
    await waitText(tid('error-tasks[0].command'), 'must not be empty');
    const cmd = `${tid('task')}[data-index="0"] ${tid('task-command')}`;
    if ((await page.getAttribute(cmd, 'aria-invalid')) !== 'true') throw new Error('the command input is not marked invalid');
    if ((await list()).length) throw new Error('a schedule was made with an empty command');
    await shot('schedules-task-error');
    await page.fill(cmd, 'say hello from a schedule');
    await gone(tid('error-tasks[0].command'));
    // What only the API checks (the regular expression) comes back under that task's input.
    await page.selectOption(tid('task-add-action'), 'wait_for');
    await page.click(tid('task-add'));
    const third = `${tid('task')}[data-index="2"]`;
    await page.selectOption(`${third} ${tid('task-wait-kind')}`, 'console');
    await page.fill(`${third} ${tid('task-wait-console')}`, '(unclosed');
    await page.click(tid('schedule-save'));
    await visible(tid('error-tasks[2].console'));
    if ((await page.getAttribute(`${third} ${tid('task-wait-console')}`, 'aria-invalid')) !== 'true') throw new Error('the pattern is not marked invalid');
    // Reordering moves the task (and its error goes with the save).
    await page.click(`${third} ${tid('task-up')}`);
    if ((await page.getAttribute(`${tid('task')}[data-index="1"]`, 'data-action')) !== 'wait_for') throw new Error('the task did not move up');
    await page.click(`${tid('task')}[data-index="1"] ${tid('task-down')}`);
    await page.click(`${tid('task')}[data-index="2"] ${tid('task-remove')}`);
    if ((await count(tid('task'))) !== 2) throw new Error('the task was not removed');
    const summaries = await page.$$eval(tid('task-summary'), (els) => els.map((e) => e.textContent?.trim()));
    if (summaries[0] !== 'Send command: say hello from a schedule' || !summaries[1]?.startsWith('Make a backup')) throw new Error(`summaries ${JSON.stringify(summaries)}`);
    await page.click(tid('schedule-save'));
    await gone(tid('schedule-editor'));
    await visible(row('Nightly'));
    const s = (await list())[0];
    if (!s || s.trigger.expression !== '0 4 * * *' || s.trigger.timezone !== 'Europe/Berlin') throw new Error(`saved ${JSON.stringify(s)}`);
    if (JSON.stringify(s.tasks.map((x) => ({ ...x, continue_on_failure: undefined }))) !== JSON.stringify([{ action: 'command', command: 'say hello from a schedule' }, { action: 'backup', name: 'Scheduled backup' }])) {
      throw new Error(`saved tasks ${JSON.stringify(s.tasks)}`);
    }
    const next = Number(await page.getAttribute(`${row('Nightly')} ${tid('schedule-next')}`, 'data-at'));
    if (next !== s.next_run_at || clock(next, 'Europe/Berlin') !== '04:00') throw new Error(`next run shown ${next}, stored ${s.next_run_at}`);
    await waitText(`${row('Nightly')} ${tid('schedule-next')}`, await localClock(next));
    await waitText(`${row('Nightly')} ${tid('schedule-description')}`, '04:00');
    await shot('schedules-list');
  });

  await step('schedules: switch it off and on again', async () => {
    await page.click(`${row('Nightly')} ${tid('schedule-toggle')}`);
    await visible(`${row('Nightly')}[data-enabled="false"]`);
    await visible(`${row('Nightly')} ${tid('schedule-disabled')}`);
    let s = (await list())[0];
    if (s.enabled || s.next_run_at !== null) throw new Error(`off: ${JSON.stringify(s)}`);
    if ((await page.getAttribute(`${row('Nightly')} ${tid('schedule-next')}`, 'data-at')) !== '') throw new Error('a next run is shown while off');
    await page.click(`${row('Nightly')} ${tid('schedule-toggle')}`);
    await visible(`${row('Nightly')}[data-enabled="true"]`);
    s = (await list())[0];
    if (!s.enabled || !s.next_run_at) throw new Error(`on: ${JSON.stringify(s)}`);
    await until('the next run to show', async () => Number(await page.getAttribute(`${row('Nightly')} ${tid('schedule-next')}`, 'data-at')) === s.next_run_at);
  });

  await step('schedules: Run now; the run shows in History with both tasks\' outcomes', async () => {
    await page.click(`${row('Nightly')} ${tid('schedule-run')}`);
    await visible(`${row('Nightly')} ${tid('run-history')}`);
    const run = `${row('Nightly')} ${tid('run-row')}`;
    await visible(run);
    await visible(`${run}[data-state="succeeded"]`, 90_000);
    if ((await page.getAttribute(run, 'data-cause')) !== 'manual') throw new Error('the run is not marked manual');
    await waitText(`${run} ${tid('run-cause')}`, 'Run now');
    // The list learns the outcome from the event (started and succeeded came over the socket).
    await visible(`${row('Nightly')}[data-outcome="succeeded"]`);
    await until('the schedule.run events', async () => Number(await page.getAttribute(tid('schedules-tab'), 'data-events')) >= 2);
    await waitText(`${row('Nightly')} ${tid('schedule-outcome')}`, 'Succeeded');
    await page.click(`${run} ${tid('run-toggle')}`);
    await visible(`${run} ${tid('run-detail')}`);
    const tasks = await page.$$eval(`${run} ${tid('run-task')}`, (els) => els.map((e) => ({ action: e.dataset.action, state: e.dataset.state, text: e.textContent })));
    if (tasks.length !== 2) throw new Error(`${tasks.length} task outcomes shown`);
    if (tasks[0].action !== 'command' || tasks[0].state !== 'succeeded') throw new Error(`command task ${JSON.stringify(tasks[0])}`);
    if (tasks[1].action !== 'backup' || tasks[1].state !== 'succeeded') throw new Error(`backup task ${JSON.stringify(tasks[1])}`);
    if (!tasks[0].text?.includes('Send command: say hello from a schedule')) throw new Error(`command task text ${tasks[0].text}`);
    // The demo server echoes the command: it is the task's output, pre-formatted.
    await waitText(`${run} ${tid('run-task')}[data-index="0"] ${tid('run-task-output')}`, 'hello from a schedule');
    if ((await page.$eval(`${run} ${tid('run-task-output')}`, (e) => e.tagName)) !== 'PRE') throw new Error('the output is not pre-formatted');
    const backups = (await apiCall('GET', `/api/servers/${id}/backups`)).json?.backups ?? [];
    if (!backups.some((b) => b.name === 'Scheduled backup')) throw new Error(`backups: ${backups.map((b) => b.name).join(', ')}`);
    const dur = (await page.textContent(`${run} ${tid('run-duration')}`))?.trim();
    if (!dur || dur === '—') throw new Error(`duration ${dur}`);
    await shot('schedules-history');
  });

  await step('schedules: History pages with Load more', async () => {
    const made = await apiCall('POST', `/api/servers/${id}/schedules`, {
      name: 'Chatty',
      trigger: { kind: 'interval', secs: 3600 },
      tasks: [{ action: 'delay', secs: 1, timeout_secs: 5 }],
    });
    if (made.status !== 201) throw new Error(`POST schedules answered ${made.status}: ${made.text}`);
    const sid = made.json.id;
    for (let i = 0; i < 11; i++) {
      await until(`run ${i + 1} to start`, async () => {
        const r = await apiCall('POST', `/api/servers/${id}/schedules/${sid}/run`);
        if (r.status === 202) return true;
        if (r.json?.error?.code !== 'schedule_running') throw new Error(`run answered ${r.status}: ${r.text}`);
        return false;
      });
    }
    await until('the last run to end', async () => {
      const r = await apiCall('GET', `/api/servers/${id}/schedules/${sid}/runs?limit=1`);
      return r.json?.runs?.[0]?.state === 'succeeded';
    }, 30_000);
    await visible(row('Chatty'));
    await waitText(`${row('Chatty')} ${tid('schedule-description')}`, 'Every hour');
    await page.click(`${row('Chatty')} ${tid('schedule-history')}`);
    const runs = `${row('Chatty')} ${tid('run-row')}`;
    await until('10 runs', async () => (await count(runs)) === 10);
    await page.click(`${row('Chatty')} ${tid('run-history-more')}`);
    await until('11 runs', async () => (await count(runs)) === 11);
    await gone(`${row('Chatty')} ${tid('run-history-more')}`);
    const del = await apiCall('DELETE', `/api/servers/${id}/schedules/${sid}`);
    if (del.status !== 204) throw new Error(`DELETE answered ${del.status}: ${del.text}`);
    await page.reload();
    await visible(row('Nightly'));
    if (await count(row('Chatty'))) throw new Error('the deleted schedule is still listed');
  });

  await step('schedules: edit the name; the editor shows the saved trigger and tasks', async () => {
    await page.click(`${row('Nightly')} ${tid('schedule-edit')}`);
    await visible(tid('schedule-editor'));
    if ((await page.inputValue(tid('cron-preset'))) !== 'daily') throw new Error('the preset is not daily');
    if ((await page.inputValue(tid('cron-time'))) !== '04:00') throw new Error('the time is not 04:00');
    if ((await page.inputValue(tid('cron-timezone'))) !== 'Europe/Berlin') throw new Error('the zone is not Europe/Berlin');
    if ((await count(tid('task'))) !== 2) throw new Error('the tasks are not there');
    await page.fill(tid('schedule-name'), 'Nightly renamed');
    await page.click(tid('schedule-save'));
    await gone(tid('schedule-editor'));
    await visible(row('Nightly renamed'));
    const s = (await list())[0];
    if (s.name !== 'Nightly renamed' || s.tasks.length !== 2) throw new Error(`after the edit ${JSON.stringify(s)}`);
  });

  await step('schedules: delete it with the confirmation; the empty state is back', async () => {
    await page.click(`${row('Nightly renamed')} ${tid('schedule-delete')}`);
    await visible(tid('schedule-delete-dialog'));
    await waitText(`${tid('schedule-delete-dialog')} h2`, 'Nightly renamed');
    await shot('schedules-delete');
    await page.click(tid('schedule-delete-dialog-confirm'));
    await visible(tid('schedules-empty'));
    if ((await list()).length) throw new Error('the API still lists it');
    await apiCall('POST', `/api/servers/${id}/power`, { action: 'stop' });
  });
}

// ---- Alone: `node e2e/schedules.mjs` ----

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { runAlone } = await import('./harness.mjs');
  await runAlone({ name: 'schedules', env: {}, timezoneId: 'America/New_York', steps: scheduleSteps });
}
