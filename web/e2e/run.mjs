// Browser tests: a real `garrison serve` with the demo game server, driven through
// Debian's Chromium by playwright-core. Usage: `npm run e2e` (see README.md in web/).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { chromium, request } from 'playwright-core';
import { ADMIN_PASSWORD, Garrison } from './harness.mjs';
import { fileManagerSteps } from './files.mjs';
import { backupSteps } from './backups.mjs';
import { scheduleSteps } from './schedules.mjs';
import { metricSteps, SAMPLE_SECS } from './metrics.mjs';
import { alertSteps, ALERT_ENV } from './alerts.mjs';
import { playerSteps } from './players.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const T = 20_000; // default wait
const NEW_PASSWORD = 'a much better password';

fs.rmSync(ARTIFACTS, { recursive: true, force: true });
fs.mkdirSync(ARTIFACTS, { recursive: true });

const results = [];
let page;
let garrison;
let browser;
const problems = []; // page errors and requests to other hosts

async function shot(name) {
  if (!page) return;
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    if (problems.length) throw new Error(problems.splice(0).join('\n'));
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`  ok    ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - started, err });
    console.log(`  FAIL  ${name}\n${String(err?.stack ?? err).replace(/^/gm, '        ')}`);
    const safe = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await shot(`FAILED-${safe}`).catch(() => {});
    throw err;
  }
}

const tid = (id) => `[data-testid="${id}"]`;
const visible = (sel, timeout = T) => page.locator(sel).first().waitFor({ state: 'visible', timeout });
const consoleHas = (text, timeout = T) =>
  page.waitForFunction((t) => window.__garrison?.consoleText?.().includes(t), text, { timeout, polling: 100 });
async function textOf(sel) {
  return (await page.locator(sel).first().textContent())?.trim() ?? '';
}
async function waitText(sel, expected, timeout = T) {
  await page.waitForFunction(
    ([s, e]) => document.querySelector(s)?.textContent?.includes(e),
    [sel, expected],
    { timeout, polling: 100 },
  );
}
const badge = (state, timeout = T) => visible(`${tid('state-badge')}[data-state="${state}"]`, timeout);

/** A call to the API from the page, with its session cookie and CSRF token. */
const apiCall = (method, url, body) =>
  page.evaluate(
    async ([m, u, b]) => {
      const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
      const r = await fetch(u, {
        method: m,
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: b === null ? undefined : JSON.stringify(b),
      });
      const text = await r.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: r.status, json, text };
    },
    [method, url, body ?? null],
  );

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret, `offset` steps from now. */
function totp(secret, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Waits while the current 30 s TOTP step ends within 4 s. */
async function awayFromStepEdge() {
  while (30 - (Math.floor(Date.now() / 1000) % 30) < 4) await new Promise((r) => setTimeout(r, 250));
}

async function login(password) {
  await visible(tid('login-form'));
  await page.fill(tid('login-username'), 'admin');
  await page.fill(tid('login-password'), password);
  await page.click(tid('login-submit'));
}

async function main() {
  // Samples every few seconds, for the metrics history (e2e/metrics.mjs); local
  // webhooks and quick alert evaluation for e2e/alerts.mjs.
  garrison = new Garrison({ env: { GARRISON_METRICS_SAMPLE_SECS: SAMPLE_SECS, ...ALERT_ENV } });
  const base = await garrison.start();
  console.log(`garrison at ${base} (binary ${garrison.bin})`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
  page = await context.newPage();
  const origin = new URL(base).host;
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|409|422)/.test(m.text())) console.log(`  [browser] ${m.text()}`);
  });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['data:', 'blob:'].includes(u.protocol) && u.host !== origin) problems.push(`request to another host: ${r.url()}`);
  });

  let serverId;

  await step('bad login shows an error', async () => {
    await page.goto(base + '/');
    await page.waitForURL(/\/login/);
    await shot('login');
    await login('not the password');
    await waitText(tid('login-error'), 'Wrong username or password');
    await shot('login-error');
  });

  await step('log in and see the empty dashboard', async () => {
    await login(ADMIN_PASSWORD);
    await visible(tid('dashboard-empty'));
    await shot('dashboard-empty');
  });

  await step('create a server through the wizard: a bad value is refused under its field first', async () => {
    await page.click(tid('create-first-server'));
    await visible(tid('template-picker'));
    await visible(tid('template-demo'));
    await shot('create-pick');
    await page.click(tid('template-demo'));
    await visible(tid('create-form'));
    await page.fill(tid('create-name'), 'E2E demo');
    // Typed inputs from the template's variables, defaults filled in.
    if ((await page.getAttribute(tid('var-ready_delay_ms'), 'type')) !== 'number') throw new Error('an integer variable is not a number input');
    if ((await page.getAttribute(tid('var-ready_delay_ms'), 'max')) !== '999999') throw new Error('the number input has no max');
    if ((await page.inputValue(tid('var-install_delay_ms'))) !== '0') throw new Error('the default is not filled in');
    // The rule's message shows while typing, under the field.
    await page.fill(tid('var-ready_delay_ms'), '9999999');
    await waitText(tid('error-variables.ready_delay_ms'), 'must be at most 999999');
    if ((await page.getAttribute(tid('var-ready_delay_ms'), 'aria-invalid')) !== 'true') throw new Error('variable not marked invalid');
    await shot('create-invalid');
    // Submitting sends nothing while it is wrong.
    await page.click(tid('create-submit'));
    await page.waitForTimeout(300);
    if (!/\/servers\/new\?template=demo$/.test(page.url())) throw new Error(`left the form: ${page.url()}`);
    await page.fill(tid('var-ready_delay_ms'), '0');
    if (await page.locator(tid('error-variables.ready_delay_ms')).count()) throw new Error('the error stays after a valid value');
    // What only the server knows comes back as a 422 under its field.
    await page.fill(tid('create-port'), '70000');
    await page.click(tid('create-submit'));
    await waitText(tid('error-port'), '65535');
    await page.fill(tid('create-port'), '');
    await shot('create');
    await page.click(tid('create-submit'));
    await page.waitForURL(/\/servers\/[^/]+\/console$/, { timeout: T });
    serverId = page.url().split('/').at(-2);
    await waitText(tid('server-name'), 'E2E demo');
  });

  await step('start it from the console and see the ready line', async () => {
    await visible(`${tid('connection-status')}[data-status="connected"]`);
    // The install step may still be running: start is enabled once it is offline.
    await badge('offline');
    await page.click(tid('power-start'));
    await consoleHas('Done! Demo server ready');
    await badge('running');
    await shot('console');
  });

  await step('type a command and see its echo', async () => {
    await page.fill(tid('command-input'), 'say hello');
    await page.press(tid('command-input'), 'Enter');
    await consoleHas('> say hello');
    if ((await page.inputValue(tid('command-input'))) !== '') throw new Error('input not cleared after send');
    await page.press(tid('command-input'), 'ArrowUp');
    const recalled = await page.inputValue(tid('command-input'));
    if (recalled !== 'say hello') throw new Error(`ArrowUp recalled ${JSON.stringify(recalled)}`);
    await page.fill(tid('command-input'), '');
  });

  await step('the console keeps up with a flood of 20,000 lines', async () => {
    // Longest gap between animation frames while the flood is drawn.
    await page.evaluate(() => {
      const w = window;
      w.__maxGap = 0;
      let last = performance.now();
      const tick = (t) => {
        w.__maxGap = Math.max(w.__maxGap, t - last);
        last = t;
        if (!w.__stopFrames) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const started = Date.now();
    await page.fill(tid('command-input'), 'flood 20000');
    await page.press(tid('command-input'), 'Enter');
    await consoleHas('flood 19999', 30_000);
    const ms = Date.now() - started;
    const { gap, rows } = await page.evaluate(() => {
      window.__stopFrames = true;
      return { gap: window.__maxGap, rows: window.__garrison.consoleText().split('\n').length };
    });
    console.log(`        20,000 lines shown in ${ms} ms; longest frame gap ${Math.round(gap)} ms; ${rows} rows kept`);
    if (rows > 5200) throw new Error(`scrollback not bounded: ${rows} rows`);
    if (gap > 1000) throw new Error(`the page froze for ${Math.round(gap)} ms`);
  });

  await step('stats tab renders charts', async () => {
    await page.click(tid('tab-stats'));
    await page.waitForURL(/\/stats$/);
    for (const c of ['chart-cpu', 'chart-memory', 'chart-disk']) await visible(`${tid(c)} canvas`);
    // A sample arrives every few seconds while the server runs.
    await page.waitForFunction(
      () => !['—', ''].includes(document.querySelector('[data-testid="stat-uptime"]')?.textContent?.trim() ?? ''),
      null,
      { timeout: 30_000, polling: 200 },
    );
    await shot('stats');
  });

  await step('settings tab shows an API error next to its field', async () => {
    await page.click(tid('tab-settings'));
    await visible(tid('settings-form'));
    await page.fill(tid('settings-port'), '70000');
    await page.click(tid('settings-save'));
    await waitText(tid('error-port'), '65535');
    const invalid = await page.getAttribute(tid('settings-port'), 'aria-invalid');
    if (invalid !== 'true') throw new Error('port input not marked invalid');
    await shot('settings');
  });

  await step('dashboard lists the running server', async () => {
    await page.click('a[href="/"] >> text=Servers');
    const row = `${tid('server-row')}[data-server-id="${serverId}"]`;
    await visible(row);
    await visible(`${row} ${tid('state-badge')}[data-state="running"]`);
    await shot('dashboard');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot('dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.click(`${row} ${tid('server-link')}`);
    await page.waitForURL(/\/console$/);
  });

  await step('the console reconnects by itself after Garrison restarts', async () => {
    await visible(`${tid('connection-status')}[data-status="connected"]`);
    await garrison.stop(); // stops the game server too
    await visible(`${tid('connection-status')}[data-status="reconnecting"]`);
    await waitText(tid('connection-status'), 'Reconnecting');
    await garrison.start();
    await visible(`${tid('connection-status')}[data-status="connected"]`, 40_000);
    await badge('offline');
  });

  await step('start again, stop, and see the state go offline', async () => {
    await page.click(tid('power-start'));
    await badge('running');
    await page.click(tid('power-stop'));
    await badge('offline');
  });

  await step('kill asks for confirmation', async () => {
    await page.click(tid('power-start'));
    await badge('running');
    await page.click(tid('power-kill'));
    await visible(tid('kill-dialog'));
    await page.click(tid('kill-dialog-cancel'));
    await page.waitForTimeout(300);
    await badge('running');
    await page.click(tid('power-kill'));
    await page.click(tid('kill-dialog-confirm'));
    await page.waitForFunction(
      () => ['offline', 'crashed'].includes(document.querySelector('[data-testid="state-badge"]')?.getAttribute('data-state') ?? ''),
      null,
      { timeout: T },
    );
  });

  await step('a crash is told in the console and the server comes back', async () => {
    // After a kill the server is offline (or, if it counted as a crash, restarting).
    await page.waitForFunction(
      () => ['offline', 'running'].includes(document.querySelector('[data-testid="state-badge"]')?.getAttribute('data-state') ?? ''),
      null,
      { timeout: T },
    );
    if ((await page.getAttribute(tid('state-badge'), 'data-state')) === 'offline') await page.click(tid('power-start'));
    await badge('running');
    await page.fill(tid('command-input'), 'crash');
    await page.press(tid('command-input'), 'Enter');
    await consoleHas('[Garrison] The server crashed');
    // The default restart policy brings it back.
    await badge('running', 30_000);
    if (!(await page.title()).startsWith('E2E demo')) throw new Error(`title is ${await page.title()}`);
    await page.click(tid('power-stop'));
    await badge('offline');
  });

  await step('Startup tab: the command, a rule message while typing, only the change is sent', async () => {
    await badge('offline');
    await page.click(tid('tab-startup'));
    await page.waitForURL(/\/startup$/);
    await visible(tid('startup-form'));
    await waitText(tid('startup-command'), 'demo-server --port 27500 --ready-delay-ms 0');
    if (await page.isEnabled(tid('startup-save'))) throw new Error('Save is enabled with nothing changed');
    await page.fill(tid('startup-var-install_delay_ms'), '-5');
    await waitText(tid('error-variables.install_delay_ms'), 'must be at least 0');
    await page.fill(tid('startup-var-install_delay_ms'), '2500');
    const sent = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith('/startup'));
    await page.click(tid('startup-save'));
    const body = JSON.parse((await sent).postData() ?? '{}');
    if (JSON.stringify(body) !== JSON.stringify({ variables: { install_delay_ms: '2500' } })) {
      throw new Error(`PATCH sent ${JSON.stringify(body)}`);
    }
    await visible(tid('startup-saved'));
    if ((await page.inputValue(tid('startup-var-install_delay_ms'))) !== '2500') throw new Error('the saved value is not shown');
    await shot('startup');
  });

  await step('Startup tab: reinstall asks first, then shows its step, progress and output', async () => {
    await page.click(tid('startup-reinstall'));
    await visible(tid('reinstall-dialog'));
    await page.click(tid('reinstall-dialog-cancel'));
    await page.waitForTimeout(300);
    await badge('offline');
    await page.click(tid('startup-reinstall'));
    await page.click(tid('reinstall-dialog-confirm'));
    await badge('installing');
    await visible(tid('install-panel'));
    await waitText(tid('install-step'), 'Step 1 of 1: command');
    await visible(tid('install-progress'));
    await visible(tid('install-cancel'));
    if (await page.isEnabled(tid('startup-reinstall'))) throw new Error('Reinstall is enabled while installing');
    if (await page.isEnabled(tid('power-start'))) throw new Error('Start is enabled while installing');
    await shot('startup-reinstalling');
    await page.click(tid('tab-console'));
    await consoleHas('Installing demo server...');
    await consoleHas('[Garrison] install step 1 of 1: ');
    await visible(tid('install-panel'));
    await shot('console-installing');
    await consoleHas('Install complete', 30_000);
    await badge('offline');
    await visible(tid('install-finished'));
    if (await page.locator(tid('install-panel')).count()) throw new Error('still shown as installing');
    await page.click(tid('install-dismiss'));
    await page.locator(tid('install-finished')).waitFor({ state: 'detached', timeout: T });
  });

  await step('create an API key, shown once, then revoke it', async () => {
    await page.click(tid('nav-account'));
    await visible(tid('key-form'));
    await page.fill(tid('key-name'), 'e2e key');
    await page.click(tid('key-create'));
    await visible(tid('new-key'));
    const key = await page.inputValue(tid('new-key-value'));
    if (!key.startsWith('gsk_')) throw new Error(`unexpected key ${key}`);
    await visible(`${tid('key-item')} >> text=e2e key`);
    await shot('account');
    await page.reload();
    await visible(tid('key-item'));
    if (await page.locator(tid('new-key')).count()) throw new Error('the key was shown a second time');
    if ((await page.content()).includes(key)) throw new Error('the full key is still on the page');
    await page.click(tid('key-revoke'));
    await page.click(tid('revoke-dialog-confirm'));
    await visible(tid('keys-empty'));
  });

  await step('change the password', async () => {
    await page.fill(tid('pw-current'), 'wrong current password');
    await page.fill(tid('pw-new'), NEW_PASSWORD);
    await page.fill(tid('pw-confirm'), NEW_PASSWORD);
    await page.click(tid('pw-submit'));
    await visible(tid('error-current_password'));
    if (!page.url().endsWith('/account')) throw new Error('a wrong current password logged the user out');
    await page.fill(tid('pw-current'), ADMIN_PASSWORD);
    await page.fill(tid('pw-new'), NEW_PASSWORD);
    await page.fill(tid('pw-confirm'), NEW_PASSWORD);
    await page.click(tid('pw-submit'));
    await visible(tid('password-changed'));
  });

  await step('log out, and log in with the new password', async () => {
    await page.click(tid('logout'));
    await visible(tid('login-form'));
    await login(NEW_PASSWORD);
    await visible(tid('server-table'));
  });

  let recovery = [];
  await step('2FA: enrol on the account page (QR code, recovery codes shown once)', async () => {
    await page.click(tid('nav-account'));
    await visible(tid('twofa-setup'));
    await page.setViewportSize({ width: 360, height: 740 });
    await page.click(tid('twofa-setup'));
    await visible(`${tid('twofa-qr')} path`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`2FA setup scrolls sideways by ${overflow}px at 360px`);
    await shot('account-2fa-setup-360');
    await page.setViewportSize({ width: 1280, height: 860 });
    const secret = await page.getAttribute(tid('twofa-secret'), 'data-secret');
    if (!/^[A-Z2-7]{32}$/.test(secret ?? '')) throw new Error(`unexpected secret ${secret}`);
    await page.fill(tid('twofa-code'), '000000' === totp(secret, -1) ? '111111' : '000000');
    await page.click(tid('twofa-enable'));
    await visible(tid('error-code'));
    await awayFromStepEdge();
    // The previous step's code (within the allowed skew) keeps the current one for login.
    await page.fill(tid('twofa-code'), totp(secret, -1));
    await page.click(tid('twofa-enable'));
    await visible(tid('twofa-recovery'));
    recovery = await page.locator(tid('twofa-recovery-code')).allTextContents();
    if (recovery.length !== 10 || !recovery.every((c) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(c))) {
      throw new Error(`unexpected recovery codes ${JSON.stringify(recovery)}`);
    }
    await visible(`${tid('twofa-status')}[data-enabled="true"]`);
    await shot('account-2fa-recovery');
    await page.click(tid('twofa-done'));
    await page.reload();
    await visible(`${tid('twofa-status')}[data-enabled="true"]`);
    if ((await page.content()).includes(recovery[0])) throw new Error('recovery codes shown a second time');
    page.__totpSecret = secret;
  });

  await step('2FA: log in with password and code; a wrong code is refused', async () => {
    const secret = page.__totpSecret;
    await page.click(tid('logout'));
    await login(NEW_PASSWORD);
    await visible(tid('login-2fa-form'));
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
    if (focused !== 'login-code') throw new Error(`focus is on ${focused}, not the code input`);
    if ((await page.getAttribute(tid('login-code'), 'autocomplete')) !== 'one-time-code') throw new Error('no one-time-code autocomplete');
    const wrong = ['000000', '111111'].find((c) => ![-1, 0, 1].some((o) => totp(secret, o) === c));
    await page.fill(tid('login-code'), wrong);
    await page.press(tid('login-code'), 'Enter');
    await waitText(tid('login-error'), 'Wrong code');
    await shot('login-2fa');
    await page.fill(tid('login-code'), totp(secret, 0));
    await page.press(tid('login-code'), 'Enter');
    await visible(tid('server-table'));
  });

  await step('2FA: a recovery code logs in once', async () => {
    await page.click(tid('logout'));
    await login(NEW_PASSWORD);
    await visible(tid('login-2fa-form'));
    await page.click(tid('login-use-recovery'));
    await page.fill(tid('login-code'), recovery[0]);
    await page.click(tid('login-verify'));
    await visible(tid('server-table'));
  });

  await step('2FA: turn it off with password and a recovery code', async () => {
    await page.click(tid('nav-account'));
    await visible(tid('twofa-disable-form'));
    await page.fill(tid('twofa-disable-password'), NEW_PASSWORD);
    await page.fill(tid('twofa-disable-code'), recovery[0]); // used up already
    await page.click(tid('twofa-disable'));
    await visible(tid('error-code'));
    await page.fill(tid('twofa-disable-code'), recovery[1]);
    await page.click(tid('twofa-disable'));
    await visible(tid('twofa-disabled'));
    await visible(`${tid('twofa-status')}[data-enabled="false"]`);
  });

  await step('a 401 from the API sends the user to the login page', async () => {
    await context.clearCookies();
    await page.goto(`${base}/servers/${serverId}/settings`);
    await page.waitForURL(/\/login\?next=/);
    await login(NEW_PASSWORD);
    await page.waitForURL(new RegExp(`/servers/${serverId}/settings$`));
    await visible(tid('settings-form'));
  });

  await step('readable at 360 px wide and on a 4K screen', async () => {
    const pages = [
      ['/', 'dashboard', 'server-table'],
      [`/servers/${serverId}/console`, 'console', 'terminal'],
      [`/servers/${serverId}/stats`, 'stats', 'chart-cpu'],
      [`/servers/${serverId}/settings`, 'settings', 'settings-form'],
      ['/servers/new', 'create', 'template-picker'],
      ['/servers/new?template=demo', 'create-form', 'create-form'],
      [`/servers/${serverId}/startup`, 'startup', 'startup-form'],
      ['/account', 'account', 'key-form'],
    ];
    for (const [width, height, suffix] of [
      [360, 740, '360'],
      [3840, 2160, '4k'],
    ]) {
      await page.setViewportSize({ width, height });
      for (const [url, name, ready] of pages) {
        await page.goto(base + url);
        await visible(tid(ready));
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 1) throw new Error(`${url} scrolls sideways by ${overflow}px at ${width}px`);
        if (suffix === '360' || name === 'dashboard' || name === 'console') await shot(`${name}-${suffix}`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  await step('delete needs the typed name; 409 while running', async () => {
    await page.goto(`${base}/servers/${serverId}/console`);
    await visible(`${tid('connection-status')}[data-status="connected"]`);
    await page.click(tid('power-start'));
    await badge('running');
    await page.click(tid('tab-settings'));
    await page.click(tid('delete-open'));
    await visible(tid('delete-dialog'));
    if (await page.isEnabled(tid('delete-dialog-confirm'))) throw new Error('delete enabled before typing the name');
    await page.fill(tid('delete-name'), 'E2E demo');
    await page.click(tid('delete-dialog-confirm'));
    await waitText(tid('delete-error'), 'Stop the server first');
    await page.click(tid('delete-dialog-cancel'));
    await page.click(tid('tab-console'));
    await page.click(tid('power-stop'));
    await badge('offline');
    await page.click(tid('tab-settings'));
    await page.click(tid('delete-open'));
    await page.fill(tid('delete-name'), 'E2E demo');
    await page.click(tid('delete-dialog-confirm'));
    await visible(tid('dashboard-empty'));
  });

  // ---- Users, subusers, permissions, activity and audit (issue 4) ----

  await step('admin: create the user "friend" on the admin Users page', async () => {
    await page.click(tid('nav-admin'));
    await page.waitForURL(/\/admin\/users$/);
    await visible(`${tid('admin-user')}[data-username="admin"]`);
    await page.click(tid('user-create-open'));
    await page.fill(tid('nu-username'), 'no spaces please');
    await page.fill(tid('nu-password'), 'friendly password');
    await page.click(tid('user-create-submit'));
    await visible(tid('error-username'));
    if ((await page.getAttribute(tid('nu-username'), 'aria-invalid')) !== 'true') throw new Error('username not marked invalid');
    await page.fill(tid('nu-username'), 'friend');
    await page.fill(tid('nu-email'), 'friend@example.test');
    await page.click(tid('user-create-submit'));
    await visible(tid('user-created'));
    await visible(`${tid('admin-user')}[data-username="friend"]`);
    await visible(tid('admin-stats'));
    // Edit: make friend's email go away, then back.
    const row = `${tid('admin-user')}[data-username="friend"]`;
    await page.click(`${row} ${tid('user-edit')}`);
    await page.fill(`${row} ${tid('eu-email')}`, 'not an email');
    await page.click(`${row} ${tid('user-edit-save')}`);
    await visible(`${row} ${tid('error-email')}`);
    await page.fill(`${row} ${tid('eu-email')}`, 'friend@example.test');
    await page.click(`${row} ${tid('user-edit-cancel')}`);
    // Nobody deletes themselves: the admin row has no delete button.
    if (await page.locator(`${tid('admin-user')}[data-username="admin"] ${tid('user-delete')}`).count()) {
      throw new Error('admin can try to delete themselves');
    }
    await shot('admin-users');
  });

  let sharedId;
  await step('admin: create a server to share', async () => {
    await page.click('a[href="/"] >> text=Servers');
    await page.click(tid('create-first-server'));
    await page.click(tid('template-demo'));
    await page.fill(tid('create-name'), 'Shared demo');
    await page.click(tid('create-submit'));
    await page.waitForURL(/\/servers\/[^/]+\/console$/, { timeout: T });
    sharedId = page.url().split('/').at(-2);
    await badge('offline', 40_000);
  });

  await step('Users tab: invite friend with only control.start, edit, errors next to fields', async () => {
    await page.click(tid('tab-users'));
    await page.waitForURL(/\/users$/);
    await visible(tid('users-empty'));
    await page.click(tid('invite-open'));
    await page.fill(tid('invite-username'), 'nobody-like-this');
    await page.click(tid('invite-submit'));
    await visible(tid('error-username'));
    await page.fill(tid('invite-username'), 'friend');
    const readBox = tid('invite-perm-server.read');
    if (!(await page.isChecked(readBox)) || (await page.isEnabled(readBox))) throw new Error('server.read is not locked on');
    // Keyboard: the permission checkboxes are reachable and toggled with Space.
    await page.focus(tid('invite-perm-control.start'));
    await page.keyboard.press('Space');
    if (!(await page.isChecked(tid('invite-perm-control.start')))) throw new Error('Space did not tick control.start');
    await shot('users-invite');
    await page.click(tid('invite-submit'));
    await visible(tid('invite-done'));
    const row = `${tid('subuser')}[data-username="friend"]`;
    await waitText(`${row} ${tid('subuser-perms')}`, 'control.start');
    // Edit: add control.restart, then take it away again.
    await page.click(`${row} ${tid('subuser-edit')}`);
    await page.check(`${row} ${tid('edit-perm-control.restart')}`);
    await page.click(`${row} ${tid('subuser-edit-save')}`);
    await waitText(`${row} ${tid('subuser-perms')}`, 'control.restart');
    await page.click(`${row} ${tid('subuser-edit')}`);
    await page.uncheck(`${row} ${tid('edit-perm-control.restart')}`);
    await page.click(`${row} ${tid('subuser-edit-save')}`);
    await page.waitForFunction(
      (s) => document.querySelector(s)?.textContent?.trim() === 'control.start',
      `${row} ${tid('subuser-perms')}`,
      { timeout: T },
    );
    await shot('users-tab');
  });

  await step('Activity tab lists the invite, filters by action prefix', async () => {
    await page.click(tid('tab-activity'));
    await page.waitForURL(/\/activity$/);
    await visible(`${tid('audit-entry')}[data-action="server.subuser.create"]`);
    await visible(`${tid('audit-entry')}[data-action="server.subuser.update"]`);
    await page.fill(tid('activity-action'), 'server.subuser.create');
    await page.click(tid('activity-apply'));
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('[data-testid="audit-entry"]')];
        return rows.length > 0 && rows.every((r) => r.getAttribute('data-action') === 'server.subuser.create');
      },
      null,
      { timeout: T },
    );
    await shot('activity-tab');
    await page.fill(tid('activity-action'), 'server.power');
    await page.press(tid('activity-action'), 'Enter');
    await visible(tid('activity-empty'));
    await page.click(tid('activity-reset'));
    await visible(tid('audit-entry'));
  });

  let friendPage;
  let friendContext;
  const friendShot = (name) => friendPage.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  await step('friend, in a fresh browser: sees the server with Start only', async () => {
    friendContext = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    friendPage = await friendContext.newPage();
    friendPage.on('pageerror', (e) => problems.push(`friend page error: ${e.message}`));
    const f = (sel) => friendPage.locator(sel).first();
    await friendPage.goto(base + '/');
    await f(tid('login-form')).waitFor({ timeout: T });
    await friendPage.fill(tid('login-username'), 'friend');
    await friendPage.fill(tid('login-password'), 'friendly password');
    await friendPage.click(tid('login-submit'));
    const row = `${tid('server-row')}[data-server-id="${sharedId}"]`;
    await f(row).waitFor({ timeout: T });
    if (await friendPage.locator(tid('nav-admin')).count()) throw new Error('friend sees the admin link');
    if (await friendPage.locator(tid('create-server-link')).count()) throw new Error('friend sees "New server"');
    await friendPage.click(`${row} ${tid('server-link')}`);
    await friendPage.waitForURL(/\/console$/);
    await f(`${tid('connection-status')}[data-status="connected"]`).waitFor({ timeout: T });
    await f(tid('power-start')).waitFor({ timeout: T });
    for (const gone of ['power-stop', 'power-restart', 'power-kill', 'command-input', 'tab-users', 'tab-activity', 'tab-startup']) {
      if (await friendPage.locator(tid(gone)).count()) throw new Error(`friend sees ${gone}`);
    }
    if (!(await friendPage.isEnabled(tid('power-start')))) throw new Error('Start is not enabled for friend');
    await friendShot('friend-console');
    await friendPage.setViewportSize({ width: 360, height: 740 });
    const overflow = await friendPage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`friend's console scrolls sideways by ${overflow}px at 360px`);
    await friendShot('friend-console-360');
    await friendPage.setViewportSize({ width: 1280, height: 860 });
    await friendPage.click(tid('tab-settings'));
    await f(tid('settings-form')).waitFor({ timeout: T });
    if (await friendPage.isEnabled(tid('settings-port'))) throw new Error('friend can edit the port');
    if (await friendPage.isEnabled(tid('settings-name'))) throw new Error('friend can rename');
    for (const gone of ['settings-save', 'delete-open']) {
      if (await friendPage.locator(tid(gone)).count()) throw new Error(`friend sees ${gone}`);
    }
    await f(tid('settings-readonly')).waitFor({ timeout: T });
    await friendShot('friend-settings');
    await friendPage.goto(`${base}/servers/${sharedId}/users`);
    await f(tid('tab-forbidden')).waitFor({ timeout: T });
    await friendPage.goto(`${base}/admin/users`);
    await f(tid('admin-only')).waitFor({ timeout: T });
    await friendPage.goto(`${base}/admin/templates`);
    await f(tid('admin-only')).waitFor({ timeout: T });
    await friendPage.goto(`${base}/servers/${sharedId}/startup`);
    await f(tid('tab-forbidden')).waitFor({ timeout: T });
  });

  await step('the API refuses stop for friend (403) but allows start', async () => {
    const call = (action) =>
      friendPage.evaluate(
        async ([id, a]) => {
          const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
          const r = await fetch(`/api/servers/${id}/power`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
            body: JSON.stringify({ action: a }),
          });
          return { status: r.status, body: await r.text() };
        },
        [sharedId, action],
      );
    const stop = await call('stop');
    if (stop.status !== 403 || !stop.body.includes('control.stop')) throw new Error(`stop answered ${stop.status}: ${stop.body}`);
    for (const [method, url] of [
      ['GET', `/api/servers/${sharedId}/users`],
      ['GET', `/api/servers/${sharedId}/activity`],
      ['GET', '/api/admin/users'],
      ['GET', `/api/servers/${sharedId}/startup`],
      ['POST', `/api/servers/${sharedId}/reinstall`],
      ['GET', '/api/template-repos'],
    ]) {
      const status = await friendPage.evaluate(
        async ([m, u]) => {
          const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
          return (await fetch(u, { method: m, headers: m === 'GET' ? {} : { 'x-csrf-token': csrf } })).status;
        },
        [method, url],
      );
      if (status !== 403) throw new Error(`${method} ${url} answered ${status} for friend`);
    }
    await friendPage.goto(`${base}/servers/${sharedId}/console`);
    await friendPage.locator(`${tid('connection-status')}[data-status="connected"]`).waitFor({ timeout: T });
    await friendPage.click(tid('power-start'));
    await friendPage.locator(`${tid('state-badge')}[data-state="running"]`).first().waitFor({ timeout: T });
    // Running: friend still has no Stop.
    if (await friendPage.locator(tid('power-stop')).count()) throw new Error('friend sees Stop while running');
  });

  await step('admin audit log shows the invite; filters by user, action, server and dates', async () => {
    await page.goto(base + '/admin/audit');
    await visible(tid('audit-list'));
    await page.fill(tid('audit-action'), 'server.subuser');
    await page.selectOption(tid('audit-server'), sharedId);
    const today = new Date();
    const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`;
    await page.fill(tid('audit-from'), day);
    await page.fill(tid('audit-to'), day);
    await page.click(tid('audit-apply'));
    const invite = `${tid('audit-entry')}[data-action="server.subuser.create"]`;
    await visible(invite);
    if (!(await textOf(invite)).includes('friend')) throw new Error('the invite entry does not name friend');
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="audit-entry"]')].every((r) => r.getAttribute('data-action').startsWith('server.subuser')),
      null,
      { timeout: T },
    );
    await shot('audit-log');
    // friend's own actions: their start.
    await page.click(tid('audit-reset'));
    const friendId = await page.evaluate(
      async () => (await (await fetch('/api/admin/users')).json()).find((u) => u.username === 'friend').id,
    );
    await page.selectOption(tid('audit-user'), friendId);
    await page.click(tid('audit-apply'));
    await visible(`${tid('audit-entry')}[data-action^="server.power"]`);
    // A range that ends before it starts is refused next to the field.
    await page.click(tid('audit-reset'));
    await page.fill(tid('audit-from'), '2030-01-02');
    await page.fill(tid('audit-to'), '2030-01-01');
    await page.click(tid('audit-apply'));
    await visible(tid('error-to'));
    await page.click(tid('audit-reset'));
    await visible(tid('audit-entry'));
  });

  await step('audit log pages with "load more"', async () => {
    // Enough entries for a second page: the admin renames the server back and forth.
    await page.evaluate(async (id) => {
      const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
      for (let i = 0; i < 30; i++) {
        await fetch(`/api/servers/${id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ name: i % 2 ? 'Shared demo' : 'Shared demo 2' }),
        });
      }
    }, sharedId);
    await page.goto(base + '/admin/audit');
    await visible(tid('audit-more'));
    const before = await page.locator(tid('audit-entry')).count();
    await page.click(tid('audit-more'));
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="audit-entry"]').length > n, before, { timeout: T });
    const ids = await page.locator(tid('audit-entry')).evaluateAll((els) => els.length);
    if (ids <= before) throw new Error('load more added nothing');
  });

  await step('account: sessions list marks this device; revoking another session ends it', async () => {
    const other = await request.newContext({ baseURL: base });
    const login = await other.post('/api/auth/login', { data: { username: 'admin', password: NEW_PASSWORD } });
    if (!login.ok()) throw new Error(`second login answered ${login.status()}`);
    if ((await other.get('/api/account')).status() !== 200) throw new Error('second session does not work');
    await page.goto(base + '/account');
    await visible(`${tid('session-item')}[data-current="true"] ${tid('session-current')}`);
    const others = `${tid('session-item')}[data-current="false"]`;
    await visible(others);
    const n = await page.locator(others).count();
    await page.locator(`${others} ${tid('session-revoke')}`).first().click();
    await page.waitForFunction(
      (want) => document.querySelectorAll('[data-testid="session-item"][data-current="false"]').length === want,
      n - 1,
      { timeout: T },
    );
    // Revoke every other one: the second login is among them.
    while (await page.locator(others).count()) {
      const left = await page.locator(others).count();
      await page.locator(`${others} ${tid('session-revoke')}`).first().click();
      await page.waitForFunction(
        (want) => document.querySelectorAll('[data-testid="session-item"][data-current="false"]').length === want,
        left - 1,
        { timeout: T },
      );
    }
    const status = (await other.get('/api/account')).status();
    if (status !== 401) throw new Error(`revoked session still answers ${status}`);
    await other.dispose();
    await visible(tid('session-current'));
  });

  await step('account: an API key with a permission scope, allowed IPs and expiry', async () => {
    await page.fill(tid('key-name'), 'scoped key');
    await page.check(tid('key-scope-some'));
    await page.click(tid('key-create'));
    await visible(tid('error-permissions'));
    await page.check(tid('key-perm-server.read'));
    await page.check(tid('key-perm-control.start'));
    await page.fill(tid('key-ips'), 'not-an-address');
    await page.fill(tid('key-expiry'), `${new Date().getFullYear() + 1}-06-30`);
    await page.click(tid('key-create'));
    await visible(tid('error-allowed_ips'));
    if ((await page.getAttribute(tid('key-ips'), 'aria-invalid')) !== 'true') throw new Error('IP ranges not marked invalid');
    await page.fill(tid('key-ips'), '10.0.0.0/8\n127.0.0.1');
    await page.click(tid('key-create'));
    await visible(tid('new-key'));
    const item = `${tid('key-item')} >> text=scoped key`;
    await visible(item);
    await waitText(tid('key-scope'), 'server.read, control.start');
    await waitText(tid('key-limits'), '10.0.0.0/8, 127.0.0.1');
    await waitText(tid('key-limits'), 'expires');
    await page.click(tid('new-key-dismiss'));
    await shot('account-sessions-keys');
  });

  await step('account: add an SSH key, see its fingerprint, errors next to the field, remove it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'garrison-e2e-ssh-'));
    try {
      const file = path.join(dir, 'id_ed25519');
      execFileSync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-C', 'e2e@laptop', '-f', file, '-q']);
      const pub = fs.readFileSync(`${file}.pub`, 'utf8');
      // "256 SHA256:… e2e@laptop (ED25519)"
      const fingerprint = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(/\s+/)[1];
      if (!fingerprint?.startsWith('SHA256:')) throw new Error(`ssh-keygen -lf printed no fingerprint: ${fingerprint}`);

      await page.goto(base + '/account');
      await visible(tid('ssh-keys-empty'));
      // Not a key: refused next to the field before anything is sent.
      await page.fill(tid('ssh-public-key'), 'hello world');
      await page.click(tid('ssh-key-add'));
      await waitText(tid('error-public_key'), 'Not an OpenSSH public key');
      if ((await page.getAttribute(tid('ssh-public-key'), 'aria-invalid')) !== 'true') throw new Error('key field not marked invalid');
      await visible(tid('error-ssh_name'));

      // A real key: the name is suggested from its comment; typed over, and sent with Enter.
      await page.fill(tid('ssh-public-key'), pub);
      const suggested = await page.inputValue(tid('ssh-name'));
      if (suggested !== 'e2e@laptop') throw new Error(`name suggested from the key comment: ${JSON.stringify(suggested)}`);
      await page.fill(tid('ssh-name'), 'e2e laptop');
      await page.press(tid('ssh-name'), 'Enter');
      await visible(tid('ssh-key-added'));
      const item = `${tid('ssh-key-item')}:has(${tid('ssh-key-name')}:text-is("e2e laptop"))`;
      await visible(item);
      const shown = (await page.locator(`${item} ${tid('ssh-key-fingerprint')}`).textContent())?.trim();
      if (shown !== fingerprint) throw new Error(`fingerprint shown ${shown}, ssh-keygen says ${fingerprint}`);
      const type = (await page.locator(`${item} ${tid('ssh-key-type')}`).textContent())?.trim();
      if (type !== 'ssh-ed25519') throw new Error(`key type shown ${type}`);
      if (await page.locator(tid('error-public_key')).count()) throw new Error('an error is still shown after adding');

      // The same key again: the server refuses it, next to the field.
      await page.fill(tid('ssh-public-key'), pub);
      await page.fill(tid('ssh-name'), 'again');
      await page.click(tid('ssh-key-add'));
      await visible(tid('error-public_key'));
      if ((await page.getAttribute(tid('ssh-public-key'), 'aria-invalid')) !== 'true') throw new Error('key field not marked invalid');
      await shot('account-ssh-keys-error');

      await page.goto(base + '/account');
      await visible(item);
      await shot('account-ssh-keys');
      await page.emulateMedia({ colorScheme: 'dark' });
      await shot('account-ssh-keys-dark');
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 360, height: 740 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) throw new Error(`SSH keys scroll sideways by ${overflow}px at 360px`);
      await shot('account-ssh-keys-360');
      await page.setViewportSize({ width: 1280, height: 860 });

      // Removing asks first; Cancel keeps the key.
      await page.click(`${item} ${tid('ssh-key-remove')}`);
      await visible(tid('ssh-remove-dialog'));
      await page.click(tid('ssh-remove-dialog-cancel'));
      await visible(item);
      await page.click(`${item} ${tid('ssh-key-remove')}`);
      await visible(tid('ssh-remove-dialog'));
      await page.click(tid('ssh-remove-dialog-confirm'));
      await visible(tid('ssh-keys-empty'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await step('new pages at 360 px, 4K and in dark mode', async () => {
    const pages = [
      [`/servers/${sharedId}/users`, 'users-tab', 'user-list'],
      [`/servers/${sharedId}/activity`, 'activity-tab', 'audit-list'],
      ['/admin/users', 'admin-users', 'admin-user-list'],
      ['/admin/audit', 'audit-log', 'audit-list'],
      ['/admin/templates', 'admin-templates', 'template-list'],
      ['/account', 'account-sessions-keys', 'session-list'],
    ];
    for (const [width, height, suffix] of [
      [360, 740, '360'],
      [3840, 2160, '4k'],
    ]) {
      await page.setViewportSize({ width, height });
      for (const [url, name, ready] of pages) {
        await page.goto(base + url);
        await visible(tid(ready));
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 1) throw new Error(`${url} scrolls sideways by ${overflow}px at ${width}px`);
        if (suffix === '360') await shot(`${name}-360`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const [url, name, ready] of pages) {
      await page.goto(base + url);
      await visible(tid(ready));
      await shot(`${name}-dark`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  await step('remove friend from the server, then delete the user', async () => {
    await page.goto(`${base}/servers/${sharedId}/users`);
    const row = `${tid('subuser')}[data-username="friend"]`;
    await page.click(`${row} ${tid('subuser-remove')}`);
    await visible(tid('remove-user-dialog'));
    await page.click(tid('remove-user-dialog-confirm'));
    await visible(tid('users-empty'));
    // friend's dashboard no longer lists it.
    await friendPage.goto(base + '/');
    await friendPage.locator(tid('dashboard-empty')).waitFor({ timeout: T });
    await page.goto(base + '/admin/users');
    await page.click(`${tid('admin-user')}[data-username="friend"] ${tid('user-delete')}`);
    await page.click(tid('delete-user-dialog-confirm'));
    await page.locator(`${tid('admin-user')}[data-username="friend"]`).waitFor({ state: 'detached', timeout: T });
    await friendContext.close();
  });

  // ---- Templates v2: typed variables, startup, install progress and prompts, admin templates ----

  /** A custom template running the demo server (its `{{garrison}} demo-server`). */
  const template = (id, name, port, more) => ({
    id,
    name,
    game: 'demo',
    ports: [{ name: 'game', default: port }],
    startup: {
      command: ['{{garrison}}', 'demo-server', '--port', '{{port}}'],
      done: [{ contains: 'Done! Demo server ready' }],
      stop: { type: 'command', command: 'stop' },
      stop_timeout_secs: 5,
    },
    env: { PATH: '/usr/bin:/bin' },
    ...more,
  });
  const rulesVars = (maxPlayers) => [
    { key: 'max_players', name: 'Max players', type: 'integer', default: '10', rules: { min: 1, max: maxPlayers } },
    { key: 'motd', name: 'Message of the day', type: 'string', default: 'hello', rules: { max_length: 40, regex: '[A-Za-z ]*' } },
    { key: 'difficulty', name: 'Difficulty', type: 'enum', default: 'easy', rules: { required: true, one_of: ['easy', 'hard'] } },
    { key: 'pvp', name: 'PvP', type: 'boolean', default: 'true' },
    { key: 'rcon_password', name: 'RCON password', type: 'secret', default: '' },
  ];
  const rulesTemplate = (maxPlayers) =>
    template('rules-demo', 'Rules demo', 27800, {
      category: 'demo',
      description: 'One variable of each type, for the tests.',
      tags: ['test'],
      variables: rulesVars(maxPlayers),
    });

  let rulesId;
  await step('wizard: each variable type gets its input; rules show while typing', async () => {
    const made = await apiCall('POST', '/api/templates', rulesTemplate(100));
    if (made.status !== 201) throw new Error(`POST /api/templates answered ${made.status}: ${made.text}`);
    await page.goto(base + '/servers/new');
    await visible(tid('template-rules-demo'));
    await page.click(tid('template-rules-demo'));
    await visible(tid('create-form'));
    const types = await page.evaluate(() =>
      Object.fromEntries(
        ['max_players', 'motd', 'difficulty', 'pvp', 'rcon_password'].map((k) => {
          const el = document.querySelector(`[data-testid="var-${k}"]`);
          return [k, `${el?.tagName.toLowerCase()}:${el?.getAttribute('type') ?? ''}`];
        }),
      ),
    );
    const want = { max_players: 'input:number', motd: 'input:text', difficulty: 'select:', pvp: 'input:checkbox', rcon_password: 'input:password' };
    if (JSON.stringify(types) !== JSON.stringify(want)) throw new Error(`inputs ${JSON.stringify(types)}`);
    if ((await page.getAttribute(tid('var-motd'), 'maxlength')) !== '40') throw new Error('no maxlength on the string input');
    if (!(await page.isChecked(tid('var-pvp')))) throw new Error('boolean default not checked');
    if ((await page.inputValue(tid('var-difficulty'))) !== 'easy') throw new Error('enum default not selected');
    await page.fill(tid('var-motd'), 'hi 2');
    await waitText(tid('error-variables.motd'), 'must match [A-Za-z ]*');
    await page.fill(tid('var-motd'), 'Hi there');
    await page.selectOption(tid('var-difficulty'), 'hard');
    await page.uncheck(tid('var-pvp'));
    await page.fill(tid('var-rcon_password'), 'hunter22');
    await page.fill(tid('create-name'), 'Rules demo');
    await page.fill(tid('create-description'), 'Made by the browser tests');
    await page.fill(tid('create-memory'), '512');
    await shot('create-typed');
    const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/servers'));
    await page.click(tid('create-submit'));
    const body = JSON.parse((await sent).postData() ?? '{}');
    const vars = body.variables ?? {};
    if (vars.motd !== 'Hi there' || vars.difficulty !== 'hard' || vars.pvp !== 'false' || vars.rcon_password !== 'hunter22' || vars.max_players !== '10') {
      throw new Error(`created with ${JSON.stringify(vars)}`);
    }
    if (body.limits?.memory_mb !== 512 || body.description !== 'Made by the browser tests') throw new Error(`created with ${JSON.stringify(body)}`);
    await page.waitForURL(/\/servers\/[^/]+\/console$/, { timeout: T });
    rulesId = page.url().split('/').at(-2);
    await waitText(tid('server-description'), 'Made by the browser tests');
    if (await page.locator(tid('install-panel')).count()) throw new Error('a template without install steps shows an install');
  });

  await step('Startup tab: a rule the page did not know yet comes back as a 422 under its field, input kept', async () => {
    await page.click(tid('tab-startup'));
    await visible(tid('startup-form'));
    if ((await page.inputValue(tid('startup-var-rcon_password'))) !== '********') throw new Error('the secret is not masked');
    // An admin tightens the rule after the page loaded it.
    const put = await apiCall('PUT', '/api/templates/rules-demo', rulesTemplate(50));
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}: ${put.text}`);
    await page.fill(tid('startup-var-max_players'), '80');
    if (await page.locator(tid('error-variables.max_players')).count()) throw new Error('the old rule refused 80');
    await page.click(tid('startup-save'));
    await waitText(tid('error-variables.max_players'), 'Max players must be at most 50');
    if ((await page.inputValue(tid('startup-var-max_players'))) !== '80') throw new Error('the input was not kept');
    if ((await page.getAttribute(tid('startup-var-max_players'), 'aria-invalid')) !== 'true') throw new Error('not marked invalid');
    if (await page.locator(tid('startup-saved')).count()) throw new Error('shown as saved');
    await shot('startup-422');
    await page.fill(tid('startup-var-max_players'), '40');
    await page.check(tid('startup-var-pvp'));
    const sent = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith('/startup'));
    await page.click(tid('startup-save'));
    const body = JSON.parse((await sent).postData() ?? '{}');
    if (JSON.stringify(body) !== JSON.stringify({ variables: { max_players: '40', pvp: 'true' } })) throw new Error(`PATCH sent ${JSON.stringify(body)}`);
    await visible(tid('startup-saved'));
    const after = await apiCall('GET', `/api/servers/${rulesId}/startup`);
    const value = (k) => after.json.variables.find((v) => v.key === k)?.value;
    if (value('max_players') !== '40' || value('pvp') !== 'true' || value('rcon_password') !== '********') {
      throw new Error(`stored ${JSON.stringify(after.json.variables)}`);
    }
  });

  await step('a subuser sees locked variables read-only and hidden ones not at all', async () => {
    const locked = rulesTemplate(50);
    locked.variables.push(
      { key: 'world_seed', name: 'World seed', type: 'string', default: 'garrison', user_editable: false },
      { key: 'admin_token', name: 'Admin token', type: 'secret', default: '', user_viewable: false, user_editable: false },
    );
    const put = await apiCall('PUT', '/api/templates/rules-demo', locked);
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}: ${put.text}`);
    const user = await apiCall('POST', '/api/admin/users', { username: 'viewer', password: 'viewer password' });
    if (user.status >= 300) throw new Error(`creating viewer answered ${user.status}: ${user.text}`);
    const invite = await apiCall('POST', `/api/servers/${rulesId}/users`, {
      username: 'viewer',
      permissions: ['server.read', 'startup.read', 'startup.update'],
    });
    if (invite.status >= 300) throw new Error(`inviting viewer answered ${invite.status}: ${invite.text}`);
    // Admins see everything, with what users may not do.
    await page.goto(`${base}/servers/${rulesId}/startup`);
    await waitText(tid('note-startup-var-admin_token'), 'Hidden from users');
    await waitText(tid('note-startup-var-world_seed'), 'Users cannot change this');
    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    const viewer = await viewerContext.newPage();
    viewer.on('pageerror', (e) => problems.push(`viewer page error: ${e.message}`));
    try {
      const v = (sel) => viewer.locator(sel).first();
      await viewer.goto(`${base}/servers/${rulesId}/startup`);
      await v(tid('login-form')).waitFor({ timeout: T });
      await viewer.fill(tid('login-username'), 'viewer');
      await viewer.fill(tid('login-password'), 'viewer password');
      await viewer.click(tid('login-submit'));
      await v(tid('startup-form')).waitFor({ timeout: T });
      if (await viewer.isEnabled(tid('startup-var-world_seed'))) throw new Error('a locked variable is editable for a user');
      await v(tid('readonly-startup-var-world_seed')).waitFor({ timeout: T });
      if (await viewer.locator(tid('startup-var-admin_token')).count()) throw new Error('a hidden variable is shown to a user');
      if (await viewer.locator(tid('startup-reinstall')).count()) throw new Error('Reinstall is offered without settings.reinstall');
      if (!(await viewer.isEnabled(tid('startup-var-max_players')))) throw new Error('an editable variable is locked');
      await viewer.fill(tid('startup-var-max_players'), '30');
      await viewer.click(tid('startup-save'));
      await v(tid('startup-saved')).waitFor({ timeout: T });
      await viewer.screenshot({ path: path.join(ARTIFACTS, 'startup-subuser.png'), fullPage: true });
      const refused = await viewer.evaluate(async (id) => {
        const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
        const r = await fetch(`/api/servers/${id}/startup`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ variables: { world_seed: 'mine' } }),
        });
        return { status: r.status, body: await r.json() };
      }, rulesId);
      if (refused.status !== 422 || refused.body?.error?.field !== 'variables.world_seed') {
        throw new Error(`changing a locked variable answered ${refused.status}: ${JSON.stringify(refused.body)}`);
      }
    } finally {
      await viewerContext.close();
    }
  });

  const eggFile = path.join(here, 'fixtures', 'eggs', 'ptero-egg-paper.json');
  const paperRow = `${tid('template-row')}[data-template-id="paper"]`;
  await step('admin Templates page: import a real egg, see the report, save it, see it listed', async () => {
    await page.goto(base + '/admin/users');
    await page.click(tid('admin-templates-link'));
    await page.waitForURL(/\/admin\/templates$/);
    await visible(`${tid('template-row')}[data-template-id="demo"]`);
    if (await page.locator(`${tid('template-row')}[data-template-id="demo"] ${tid('template-delete')}`).count()) {
      throw new Error('a built-in template offers Delete');
    }
    // Not a template at all: said at the file picker.
    await page.setInputFiles(tid('import-file'), { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello there') });
    await waitText(tid('error-content'), 'not a Garrison template');
    // The egg: a dry run first, nothing saved.
    await page.setInputFiles(tid('import-file'), eggFile);
    await visible(tid('import-preview'));
    await waitText(tid('import-headline'), 'Pterodactyl egg “Paper” (PTDL_v2)');
    await waitText(tid('import-docker'), 'Requires Docker');
    await waitText(tid('import-unmapped'), 'features');
    await waitText(tid('import-notes'), '25565');
    await waitText(tid('import-summary'), 'game 25565/TCP+UDP');
    if (await page.locator(paperRow).count()) throw new Error('the dry run saved the template');
    await shot('templates-import-preview');
    await page.click(tid('import-save'));
    await visible(tid('import-saved'));
    await visible(`${paperRow}[data-origin="custom"]`);
    await shot('templates');
  });

  await step('admin Templates page: dropping the same egg again is a conflict until Replace', async () => {
    const text = fs.readFileSync(eggFile, 'utf8');
    await page.evaluate((t) => {
      const dt = new DataTransfer();
      dt.items.add(new File([t], 'ptero-egg-paper.json', { type: 'application/json' }));
      const zone = document.querySelector('[data-testid="import-drop"]');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, text);
    await visible(tid('import-preview'));
    await page.click(tid('import-save'));
    await waitText(tid('import-error'), 'exists already');
    await page.check(tid('import-replace'));
    await page.click(tid('import-save'));
    await visible(tid('import-saved'));
  });

  await step('admin Templates page: export downloads the TOML; edit it (errors shown), delete with confirmation', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`${paperRow} ${tid('template-export')}`)]);
    if (download.suggestedFilename() !== 'paper.toml') throw new Error(`downloaded ${download.suggestedFilename()}`);
    const toml = fs.readFileSync(await download.path(), 'utf8');
    if (!toml.includes('id = "paper"')) throw new Error(`not the TOML: ${toml.slice(0, 80)}`);
    await page.click(`${paperRow} ${tid('template-edit')}`);
    await visible(tid('template-editor-text'));
    const text = await page.inputValue(tid('template-editor-text'));
    if (!text.includes('id = "paper"')) throw new Error('the editor does not hold the exported TOML');
    await page.fill(tid('template-editor-text'), text.replace(/^stop_timeout_secs = \d+$/m, 'stop_timeout_secs = "soon"'));
    await page.click(tid('template-editor-save'));
    await waitText(tid('error-content'), 'stop_timeout_secs');
    await shot('templates-edit-error');
    await page.fill(tid('template-editor-text'), text.replace('name = "Paper"', 'name = "Paper (edited)"'));
    await page.click(tid('template-editor-save'));
    await waitText(tid('templates-notice'), 'Paper (edited) was saved');
    await waitText(paperRow, 'Paper (edited)');
    // In use: refused, and said why.
    const used = `${tid('template-row')}[data-template-id="rules-demo"]`;
    await page.click(`${used} ${tid('template-delete')}`);
    await visible(tid('template-delete-dialog'));
    await page.click(tid('template-delete-dialog-confirm'));
    await waitText(tid('template-delete-error'), 'use rules-demo');
    await page.click(tid('template-delete-dialog-cancel'));
    await page.click(`${paperRow} ${tid('template-delete')}`);
    await page.click(tid('template-delete-dialog-confirm'));
    await page.locator(paperRow).waitFor({ state: 'detached', timeout: T });
  });

  await step('admin Templates page: a template repository is added, synced and removed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'garrison-e2e-repo-'));
    fs.chmodSync(dir, 0o755);
    try {
      fs.writeFileSync(
        path.join(dir, 'repo-demo.toml'),
        [
          'id = "repo-demo"',
          'name = "Repo demo"',
          'game = "demo"',
          'ports = [{ name = "game", default = 27900 }]',
          '[startup]',
          'command = ["{{garrison}}", "demo-server", "--port", "{{port}}"]',
          'stop = { type = "command", command = "stop" }',
          'stop_timeout_secs = 5',
          '',
        ].join('\n'),
      );
      fs.writeFileSync(path.join(dir, 'broken.toml'), 'id = \n');
      await page.fill(tid('repo-location'), 'not a place');
      await page.click(tid('repo-add'));
      await visible(tid('error-location'));
      await page.fill(tid('repo-location'), dir);
      await page.click(tid('repo-add'));
      const item = `${tid('repo-item')}[data-location="${dir}"]`;
      await visible(item);
      await waitText(`${item} ${tid('repo-result')}`, 'repo-demo');
      await visible(`${tid('template-row')}[data-template-id="repo-demo"]`);
      await shot('templates-repos');
      await page.click(`${item} ${tid('repo-sync')}`);
      await waitText(`${item} ${tid('repo-result')}`, 'Imported repo-demo');
      await page.click(`${item} ${tid('repo-remove')}`);
      await page.click(tid('repo-remove-dialog-confirm'));
      await page.locator(item).waitFor({ state: 'detached', timeout: T });
      await page.locator(`${tid('template-row')}[data-template-id="repo-demo"]`).waitFor({ state: 'detached', timeout: T });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await step('a sign-in prompt during install shows its link and code, also on a page opened later; Cancel ends the install', async () => {
    // The install prints a device sign-in (like Hytale's downloader) and waits.
    const signin = {
      ...template('signin-demo', 'Sign-in demo', 27600, {}),
      install: [
        {
          type: 'command',
          command: [
            "echo 'Visit https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=ABCD-1234'; echo 'Enter code: ABCD-1234'; sleep 30",
          ],
          shell: true,
        },
      ],
      prompts: [{ url_regex: '(https://\\S+/device/verify\\S*)', code_regex: 'code:\\s+([A-Z0-9-]+)', message: 'Sign in to download the game' }],
    };
    const made = await apiCall('POST', '/api/templates', signin);
    if (made.status !== 201) throw new Error(`POST /api/templates answered ${made.status}: ${made.text}`);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.goto(base + '/servers/new');
    await page.click(tid('template-signin-demo'));
    await page.fill(tid('create-name'), 'Sign-in demo');
    await page.click(tid('create-submit'));
    await page.waitForURL(/\/servers\/[^/]+\/console$/, { timeout: T });
    await badge('installing');
    await visible(tid('prompt-notice'));
    await waitText(tid('prompt-message'), 'Sign in to download the game');
    const link = page.locator(tid('prompt-link'));
    const href = await link.getAttribute('href');
    if (href !== 'https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=ABCD-1234') throw new Error(`link ${href}`);
    if ((await link.getAttribute('target')) !== '_blank') throw new Error('the link does not open a new tab');
    if (!(await link.getAttribute('rel'))?.split(/\s+/).includes('noopener')) throw new Error('the link lacks rel=noopener');
    if ((await textOf(tid('prompt-code'))) !== 'ABCD-1234') throw new Error(`code ${await textOf(tid('prompt-code'))}`);
    await consoleHas('Enter code: ABCD-1234');
    await consoleHas('[Garrison] install step 1 of 1: ');
    await visible(tid('install-panel'));
    await shot('install-prompt');
    // A page opened after the prompt was printed learns the step and the prompt from
    // the console socket's hello (the events themselves came before it).
    await page.reload();
    await badge('installing');
    await waitText(tid('install-step'), 'Step 1 of 1: command');
    await visible(tid('prompt-notice'));
    await waitText(tid('prompt-message'), 'Sign in to download the game');
    if ((await textOf(tid('prompt-code'))) !== 'ABCD-1234') throw new Error(`code after reload ${await textOf(tid('prompt-code'))}`);
    if ((await page.getAttribute(tid('prompt-link'), 'href')) !== href) throw new Error('another link after reload');
    await page.click(tid('prompt-copy'));
    await waitText(tid('prompt-copy'), 'Copied');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== 'ABCD-1234') throw new Error(`copied ${JSON.stringify(copied)}`);
    await page.setViewportSize({ width: 360, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`the prompt scrolls sideways by ${overflow}px at 360px`);
    await shot('install-prompt-360');
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.click(tid('install-cancel'));
    await visible(tid('install-cancelled'));
    await badge('offline');
    for (const gone of ['install-panel', 'prompt-notice']) {
      if (await page.locator(tid(gone)).count()) throw new Error(`${gone} still shown after the cancel`);
    }
    await shot('install-cancelled');
  });

  await step('a running server asking for a sign-in shows the prompt, also on a page opened later; it goes when the server stops', async () => {
    await visible(`${tid('connection-status')}[data-status="connected"]`);
    await page.click(tid('power-start'));
    await badge('running');
    // Started: how the last install ended is no longer news.
    await page.locator(tid('install-cancelled')).waitFor({ state: 'detached', timeout: T });
    // The demo server echoes commands: the echo is a console line like a game's own.
    await page.fill(tid('command-input'), 'Visit https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=WXYZ-9876');
    await page.press(tid('command-input'), 'Enter');
    await page.fill(tid('command-input'), 'Enter code: WXYZ-9876');
    await page.press(tid('command-input'), 'Enter');
    await visible(tid('prompt-notice'));
    await waitText(tid('prompt-notice'), 'The server asks you to sign in');
    if ((await textOf(tid('prompt-code'))) !== 'WXYZ-9876') throw new Error(`code ${await textOf(tid('prompt-code'))}`);
    const href = await page.getAttribute(tid('prompt-link'), 'href');
    if (!href?.endsWith('user_code=WXYZ-9876')) throw new Error(`link ${href}`);
    await shot('running-prompt');
    // Opened afterwards, the page is told the open prompt by the hello.
    await page.reload();
    await badge('running');
    await waitText(tid('prompt-notice'), 'The server asks you to sign in');
    if ((await textOf(tid('prompt-code'))) !== 'WXYZ-9876') throw new Error(`code after reload ${await textOf(tid('prompt-code'))}`);
    await page.click(tid('power-stop'));
    await badge('offline');
    await page.locator(tid('prompt-notice')).waitFor({ state: 'detached', timeout: T });
  });

  await step('a failed install shows its error with Reinstall, and never looks stuck installing', async () => {
    const failing = {
      ...template('fail-demo', 'Failing install', 27700, {}),
      install: [{ type: 'command', command: ["echo 'fetching files'; sleep 2; echo 'no space left' >&2; exit 3"], shell: true }],
    };
    const made = await apiCall('POST', '/api/templates', failing);
    if (made.status !== 201) throw new Error(`POST /api/templates answered ${made.status}: ${made.text}`);
    const created = await apiCall('POST', '/api/servers', { name: 'Failing install', template: 'fail-demo' });
    if (created.status !== 201) throw new Error(`POST /api/servers answered ${created.status}: ${created.text}`);
    await page.goto(`${base}/servers/${created.json.id}/console`);
    await visible(tid('install-failed'), 30_000);
    await waitText(tid('install-error'), 'exited with code 3');
    await badge('offline');
    await consoleHas('no space left');
    if (await page.locator(tid('install-panel')).count()) throw new Error('still shown as installing');
    await shot('install-failed');
    // After a reload the stored status still tells it.
    await page.reload();
    await waitText(tid('install-error'), 'exited with code 3');
    await page.click(tid('install-reinstall'));
    await visible(tid('install-panel'));
    await visible(tid('install-failed'), 30_000);
    await badge('offline');
  });

  // ---- Files and SFTP details (issue 6): e2e/files.mjs ----
  await fileManagerSteps({
    step,
    page,
    browser,
    base,
    visible,
    waitText,
    shot,
    apiCall,
    problems,
    artifacts: ARTIFACTS,
    T,
    sftpPort: garrison.sftpPort,
    adminName: 'admin',
  });

  // ---- Backups (issue 7): e2e/backups.mjs ----
  await backupSteps({ step, page, browser, base, visible, waitText, shot, apiCall, problems, artifacts: ARTIFACTS, T });

  // ---- Schedules: e2e/schedules.mjs (alone: `node e2e/schedules.mjs`) ----
  await scheduleSteps({ step, page, base, visible, waitText, shot, apiCall, T });

  // ---- Metrics history: e2e/metrics.mjs (alone: `node e2e/metrics.mjs`) ----
  await metricSteps({ step, page, base, visible, waitText, shot, apiCall, T });

  // ---- Alerts and notifications: e2e/alerts.mjs (alone: `node e2e/alerts.mjs`) ----
  await alertSteps({ step, page, base, visible, waitText, shot, apiCall, T });

  // ---- Players tab: e2e/players.mjs (alone: `node e2e/players.mjs`) ----
  await playerSteps({ step, page, base, visible, waitText, shot, apiCall, T });
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  if (!results.some((r) => !r.ok)) console.error(err);
} finally {
  await browser?.close().catch(() => {});
  if (garrison) {
    if (failed) {
      fs.writeFileSync(path.join(ARTIFACTS, 'garrison.log'), garrison.log.join('\n'));
    }
    await garrison.dispose().catch((e) => console.error(e));
  }
}
const passed = results.filter((r) => r.ok).length;
console.log(`\n${passed} passed, ${results.length - passed} failed; screenshots in ${ARTIFACTS}`);
process.exit(failed ? 1 : 0);
