// Browser tests: a real `garrison serve` with the demo game server, driven through
// Debian's Chromium by playwright-core. Usage: `npm run e2e` (see README.md in web/).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import { chromium } from 'playwright-core';
import { ADMIN_PASSWORD, Garrison } from './harness.mjs';

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
  garrison = new Garrison();
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

  await step('create a server from the demo template', async () => {
    await page.click(tid('create-first-server'));
    await visible(tid('template-demo'));
    await page.click(tid('template-demo'));
    await page.fill(tid('create-name'), 'E2E demo');
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
      ['/servers/new', 'create', 'create-form'],
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
