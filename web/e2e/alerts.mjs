// Browser tests of alerts and notifications: a webhook channel to a listener of the
// test's own (Send test, the signature header, the delivery log), the rules editor (a
// field error under the threshold, a `crashed` rule), a demo server that crashes and the
// alert it raises (Open, the listener gets `alert.firing`), resolved in the UI one by one
// and selected, then under Resolved "by you"; the rule deleted with a confirm; a
// maintenance window refused with a bad cron, created, edited (open now) and deleted.
// `run.mjs` calls `alertSteps` with its page (signed in as the admin; its garrison runs
// with ALERT_ENV); `node e2e/alerts.mjs` runs them alone against a garrison of their own.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the garrison under test needs: local webhooks allowed, quick retries and evaluation. */
export const ALERT_ENV = {
  GARRISON_NOTIFICATIONS_ALLOW_PRIVATE: 'true',
  GARRISON_NOTIFICATIONS_FIRST_BACKOFF_MS: '50',
  GARRISON_ALERTS_EVAL_SECS: '1',
};

/** An HTTP listener on 127.0.0.1 that records every request (method, headers, JSON body). */
export async function startListener() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      requests.push({ method: req.method, url: req.url, headers: req.headers, text, json });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/hook`, requests, close: () => new Promise((r) => server.close(r)) };
}

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
export async function alertSteps(t) {
  const { step, page, base, visible, waitText, shot, apiCall, T } = t;
  const tid = (id) => `[data-testid="${id}"]`;
  const until = async (what, fn, timeout = T) => {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await page.waitForTimeout(200);
    }
  };
  const listener = await startListener();
  const events = (name) => listener.requests.filter((r) => r.headers['x-garrison-event'] === name);
  let serverId;
  const state = async () => (await apiCall('GET', `/api/servers/${serverId}`)).json?.state;

  try {
    await step('alerts: add a signed webhook channel to a local listener, subscribed to alerts and crashes', async () => {
      await page.goto(base + '/admin/users');
      await visible(tid('admin-notifications-link'));
      await page.click(tid('admin-notifications-link'));
      await page.waitForURL(/\/admin\/notifications$/);
      await visible(tid('channels-empty'));
      await page.click(tid('channel-create'));
      await visible(tid('channel-editor'));
      // Checked before sending: no name, no URL.
      await page.click(tid('channel-save'));
      await visible(tid('error-name'));
      await visible(tid('error-channel.url'));
      // The kind switch shows that kind's fields.
      await page.check(tid('channel-kind-email'));
      await visible(tid('channel-host'));
      if (await page.locator(tid('channel-url')).count()) throw new Error('the email form shows a URL input');
      await page.check(tid('channel-kind-webhook'));
      await page.fill(tid('channel-name'), 'Local hook');
      await page.fill(tid('channel-url'), listener.url);
      await page.fill(tid('channel-secret'), 'shared secret');
      // Alerts are on by default; add server.crashed only.
      if (!(await page.isChecked(tid('event-group-alert')))) throw new Error('alerts are not subscribed by default');
      await page.check(tid('event-server.crashed'));
      const indeterminate = await page.locator(tid('event-group-server')).evaluate((el) => el.indeterminate);
      if (!indeterminate) throw new Error('the server group toggle is not shown as partly on');
      await shot('alerts-channel-editor');
      await page.click(tid('channel-save'));
      await visible(tid('channel-row'));
      await waitText(tid('channel-events-text'), 'Alerts, Servers: Crashed');
      await visible(tid('channel-signed'));
      const list = await apiCall('GET', '/api/admin/channels');
      const c = list.json?.[0];
      if (JSON.stringify(c?.events) !== JSON.stringify(['alert', 'server.crashed'])) throw new Error(`events stored as ${JSON.stringify(c?.events)}`);
      if (c.channel.secret !== undefined || c.channel.has_secret !== true) throw new Error(`channel shown as ${JSON.stringify(c.channel)}`);
    });

    await step('alerts: Send test shows the attempt, the listener gets a signed POST, the log lists it', async () => {
      await page.click(tid('channel-test'));
      await visible(`${tid('channel-test-result')}[data-ok="true"]`);
      await waitText(tid('test-attempts'), 'HTTP 200');
      const got = await until('the test POST at the listener', async () => events('test')[0]);
      if (got.method !== 'POST') throw new Error(`the listener got ${got.method}`);
      if (!/^sha256=[0-9a-f]{64}$/.test(got.headers['x-garrison-signature'] ?? '')) throw new Error(`signature header ${got.headers['x-garrison-signature']}`);
      await page.click(tid('channel-log'));
      await visible(`${tid('delivery-row')}[data-event="test"][data-ok="true"]`);
      await shot('alerts-channel-test');
      // Editing shows the secret as set, kept when left empty.
      await page.click(tid('channel-edit'));
      await visible(tid('channel-editor'));
      const ph = await page.getAttribute(tid('channel-secret'), 'placeholder');
      if (ph !== 'set — leave empty to keep') throw new Error(`secret placeholder ${JSON.stringify(ph)}`);
      await page.click(tid('channel-save'));
      await page.locator(tid('channel-editor')).waitFor({ state: 'detached', timeout: T });
      await visible(tid('channel-signed'));
    });

    await step('alerts: the rules editor shows a bad threshold under its input, then makes a crashed rule', async () => {
      await page.click(tid('admin-alerts-link'));
      await page.waitForURL(/\/admin\/alerts$/);
      await visible(tid('alerts-empty'));
      await visible(tid('rules-empty'));
      await page.click(tid('rule-create'));
      await visible(tid('rule-editor'));
      await page.fill(tid('rule-name'), 'Hot CPU');
      await page.selectOption(tid('rule-kind'), 'cpu');
      if ((await page.inputValue(tid('rule-param-threshold'))) !== '90') throw new Error('no default threshold');
      if ((await page.inputValue(tid('rule-param-duration_secs'))) !== '300') throw new Error('no default duration');
      await page.fill(tid('rule-param-threshold'), '20000');
      await page.click(tid('rule-save'));
      await waitText(tid('error-params.threshold'), '10000');
      if ((await page.getAttribute(tid('rule-param-threshold'), 'aria-invalid')) !== 'true') throw new Error('threshold not marked invalid');
      await shot('alerts-rule-error');
      // Crashed takes no parameters.
      await page.selectOption(tid('rule-kind'), 'crashed');
      await visible(tid('rule-no-params'));
      if (await page.locator(tid('rule-param-threshold')).count()) throw new Error('crashed shows a threshold');
      await page.fill(tid('rule-name'), 'Crashed');
      await page.selectOption(tid('rule-severity'), 'critical');
      await page.click(tid('rule-save'));
      await visible(`${tid('rule-row')}[data-kind="crashed"]`);
      const rules = await apiCall('GET', '/api/alerts/rules');
      if (rules.json?.length !== 1 || rules.json[0].kind !== 'crashed' || rules.json[0].severity !== 'critical' || rules.json[0].server_id !== null)
        throw new Error(`rules ${rules.text}`);
    });

    await step('alerts: a demo server crashes, the alert shows under Open and the listener gets alert.firing', async () => {
      const made = await apiCall('POST', '/api/servers', { name: 'Alerts demo', template: 'demo', restart: { enabled: false } });
      if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
      serverId = made.json.id;
      await until('the install to end', async () => (await state()) !== 'installing', 40_000);
      const crash = async () => {
        // Right after the install the state may still read installing for a moment.
        let r;
        await until('start to be taken', async () => {
          r = await apiCall('POST', `/api/servers/${serverId}/power`, { action: 'start' });
          return r.status < 300 || r.json?.error?.state !== 'installing';
        }, 30_000);
        if (r.status >= 300) throw new Error(`start answered ${r.status}: ${r.text}`);
        await until('the server to run', async () => (await state()) === 'running', 30_000);
        const c = await apiCall('POST', `/api/servers/${serverId}/command`, { command: 'crash' });
        if (c.status >= 300) throw new Error(`crash answered ${c.status}: ${c.text}`);
        await until('the server to crash', async () => ['crashed', 'offline'].includes(await state()), 30_000);
      };
      await crash();
      await visible(`${tid('alert-row')}[data-kind="crashed"][data-server="${serverId}"]`, 30_000);
      await waitText(tid('alert-target'), 'Alerts demo');
      await waitText(tid('alert-severity'), 'Critical');
      await waitText(tid('stat-firing'), '1');
      await waitText(tid('stat-critical'), '1');
      const firing = await until('alert.firing at the listener', async () => events('alert.firing')[0], 30_000);
      if (!firing.headers['x-garrison-signature']) throw new Error('alert.firing is not signed');
      await until('server.crashed at the listener', async () => events('server.crashed')[0], 30_000);
      await shot('alerts-open');
      t.crash = crash;
    });

    await step('alerts: resolve it in the UI; it shows under Resolved, by you', async () => {
      await page.click(tid('alert-resolve'));
      await visible(tid('alerts-empty'));
      await waitText(tid('stat-firing'), '0');
      await page.click(tid('alerts-tab-resolved'));
      await visible(`${tid('alert-row')}[data-state="resolved"]`);
      await waitText(tid('alert-resolved-by'), 'by you');
      await waitText(tid('stat-resolved'), '1');
      await shot('alerts-resolved');
    });

    await step('alerts: a second crash raises a new alert, resolved by selecting it', async () => {
      await page.click(tid('alerts-tab-open'));
      await visible(tid('alerts-empty'));
      await t.crash();
      await visible(`${tid('alert-row')}[data-kind="crashed"]`, 30_000);
      if (!(await page.isDisabled(tid('alerts-resolve-selected')))) throw new Error('Resolve selected is enabled with nothing selected');
      await page.check(tid('alert-select'));
      await page.click(tid('alerts-resolve-selected'));
      await visible(tid('alerts-empty'));
      const r = await apiCall('GET', '/api/alerts?state=resolved');
      if (r.json?.alerts?.length !== 2) throw new Error(`resolved alerts: ${r.text}`);
      const me = (await apiCall('GET', '/api/account')).json.id;
      if (!r.json.alerts.every((a) => a.resolved_by === me)) throw new Error(`resolved_by ${r.json.alerts.map((a) => a.resolved_by)}`);
    });

    await step('alerts: delete the rule with a confirm', async () => {
      await page.click(tid('rule-delete'));
      await visible(tid('rule-delete-dialog'));
      await page.click(tid('rule-delete-dialog-confirm'));
      await visible(tid('rules-empty'));
      const rules = await apiCall('GET', '/api/alerts/rules');
      if (rules.json?.length !== 0) throw new Error(`rules left: ${rules.text}`);
    });

    const windows = async () => (await apiCall('GET', '/api/admin/maintenance')).json;
    await step('maintenance: a bad cron shows under its input and creates nothing; a good one is listed with its next start', async () => {
      await visible(tid('windows-empty'));
      await page.click(tid('window-create'));
      await visible(tid('window-editor'));
      await page.fill(tid('window-name'), 'Patch night');
      await page.fill(tid('window-cron'), 'every night');
      await page.click(tid('window-save'));
      await visible(tid('error-cron'));
      if ((await page.getAttribute(tid('window-cron'), 'aria-invalid')) !== 'true') throw new Error('cron not marked invalid');
      if ((await windows())?.length !== 0) throw new Error('a window was stored');
      await page.fill(tid('window-minutes'), '0');
      await page.fill(tid('window-cron'), '@daily');
      await page.click(tid('window-save'));
      await visible(tid('error-duration_secs'));
      if ((await windows())?.length !== 0) throw new Error('a window was stored');
      await page.fill(tid('window-minutes'), '60');
      await page.selectOption(tid('window-timezone'), 'UTC');
      await page.click(tid('window-save'));
      await visible(`${tid('window-row')}[data-name="Patch night"]`);
      await waitText(tid('window-scope'), 'Whole node');
      await waitText(tid('window-when'), '@daily UTC, for 1 h');
      await waitText(tid('window-state'), 'Next:');
      const list = await windows();
      if (list?.length !== 1 || list[0].duration_secs !== 3600 || list[0].server_id !== null || list[0].open) throw new Error(`stored: ${JSON.stringify(list)}`);
      await shot('maintenance-list');
    });

    await step('maintenance: edit it to one server, every minute for 90 minutes: it shows open now', async () => {
      await page.click(tid('window-edit'));
      await visible(tid('window-editor'));
      if ((await page.inputValue(tid('window-minutes'))) !== '60') throw new Error('the editor lost the duration');
      await page.selectOption(tid('window-server'), serverId);
      await page.fill(tid('window-cron'), '* * * * *');
      await page.fill(tid('window-minutes'), '90');
      await page.check(tid('window-stop'));
      await page.click(tid('window-save'));
      await visible(tid('window-open'));
      await waitText(tid('window-scope'), 'Alerts demo');
      await waitText(tid('window-when'), 'for 1 h 30 min');
      await waitText(tid('window-state'), 'Open since');
      const list = await windows();
      if (list?.length !== 1 || list[0].duration_secs !== 5400 || list[0].server_id !== serverId || !list[0].open || !list[0].stop_at_start) {
        throw new Error(`stored: ${JSON.stringify(list)}`);
      }
      const mine = await apiCall('GET', `/api/servers/${serverId}/maintenance`);
      if (mine.json?.length !== 1) throw new Error(`the server's windows: ${mine.text}`);
    });

    await step("maintenance: the server's page says it is in maintenance", async () => {
      await page.goto(`${base}/servers/${serverId}/console`);
      await visible(`${tid('maintenance-notice')}[data-kind="open"]`);
      await waitText(tid('maintenance-notice'), 'Maintenance “Patch night” until');
      await page.goto(`${base}/admin/alerts`);
      await visible(tid('window-row'));
    });

    await step('maintenance: delete it with a confirm', async () => {
      await page.click(tid('window-delete'));
      await visible(tid('window-delete-dialog'));
      await page.click(tid('window-delete-dialog-confirm'));
      await visible(tid('windows-empty'));
      if ((await windows())?.length !== 0) throw new Error('the window is still stored');
    });
  } finally {
    await listener.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { runAlone } = await import('./harness.mjs');
  await runAlone({ name: 'alerts', env: ALERT_ENV, timezoneId: 'America/New_York', steps: alertSteps });
}
