// Starts a real `garrison serve` for the browser tests and stops it again.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const ADMIN_PASSWORD = 'correct horse battery staple';

export function garrisonBin() {
  if (process.env.GARRISON_BIN) return path.resolve(process.env.GARRISON_BIN);
  const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'garrison-target');
  return path.join(target, 'debug', 'garrison');
}

/**
 * When running as root, game servers run as `nobody`, who cannot execute a binary
 * under /root: run a copy from a fresh world-readable directory.
 */
function runnableCopy(bin) {
  if (!fs.existsSync(bin)) {
    throw new Error(`garrison binary not found at ${bin}: run \`cargo build -p garrison\` or set GARRISON_BIN`);
  }
  if (process.getuid?.() !== 0) return { bin, cleanup: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'garrison-e2e-bin-'));
  fs.chmodSync(dir, 0o755);
  const copy = path.join(dir, 'garrison');
  fs.copyFileSync(bin, copy);
  fs.chmodSync(copy, 0o755);
  return { bin: copy, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A TCP port nobody listens on now (for the SFTP server, which must keep it across restarts). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export class Garrison {
  /** @param {{ env?: Record<string, string> }} [options] `env`: extra variables for the garrison process. */
  constructor(options = {}) {
    this.env = options.env ?? {};
    this.child = null;
    this.base = null;
    this.listen = '127.0.0.1:0';
    /** The SFTP server's port: a free one, not the default 2022 on every address. */
    this.sftpPort = null;
    this.log = [];
    const { bin, cleanup } = runnableCopy(garrisonBin());
    this.bin = bin;
    this.cleanupBin = cleanup;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'garrison-e2e-data-'));
    fs.chmodSync(this.dataDir, 0o755);
  }

  /** Start and wait for "listening on http://ADDR". Restarts reuse the same address. */
  async start() {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GARRISON_')) env[k] = v;
    env.GARRISON_ADMIN_PASSWORD = ADMIN_PASSWORD;
    env.GARRISON_LOG = 'info';
    this.sftpPort ??= await freePort();
    env.GARRISON_SFTP_LISTEN = `127.0.0.1:${this.sftpPort}`;
    // E2E_WEB_DIR: test a UI build on disk instead of the one embedded in the binary.
    if (process.env.E2E_WEB_DIR) env.GARRISON_WEB_DIR = path.resolve(process.env.E2E_WEB_DIR);
    Object.assign(env, this.env);
    const child = spawn(this.bin, ['serve', '--data-dir', this.dataDir, '--listen', this.listen], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (line) => {
      this.log.push(line);
      if (this.log.length > 2000) this.log.shift();
    };
    readline.createInterface({ input: child.stderr }).on('line', keep);
    const out = readline.createInterface({ input: child.stdout });
    const addr = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('garrison did not start listening within 60 s')), 60_000);
      out.on('line', (line) => {
        keep(line);
        const m = line.match(/listening on http:\/\/(\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`garrison exited before listening (code ${code}, signal ${sig}):\n${this.log.join('\n')}`));
      });
    });
    this.listen = addr;
    this.base = `http://${addr}`;
    return this.base;
  }

  /** SIGTERM and wait for the exit (game servers are stopped first). */
  async stop() {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killTimer);
  }

  async dispose() {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    this.cleanupBin();
  }
}

/**
 * Runs one file's steps on its own (`node e2e/<file>.mjs`): its own garrison (with
 * `env`), a logged-in headless Chromium in `timezoneId`, screenshots in
 * `artifacts/<name>`; exits 0 when every step passed. `run.mjs` runs them all together.
 */
export async function runAlone({ name, env = {}, timezoneId = 'UTC', steps }) {
  const { chromium } = await import('playwright-core');
  const here = path.dirname(new URL(import.meta.url).pathname);
  const ARTIFACTS = path.join(here, 'artifacts', name);
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const T = 20_000;
  const problems = [];
  let passed = 0;
  let failed = false;
  let page;
  const garrison = new Garrison({ env });
  let browser;
  const shot = async (name) => page?.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const step = async (name, fn) => {
    const started = Date.now();
    try {
      await fn();
      if (problems.length) throw new Error(problems.splice(0).join('\n'));
      passed++;
      console.log(`  ok    ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      console.log(`  FAIL  ${name}\n${String(err?.stack ?? err).replace(/^/gm, '        ')}`);
      await shot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => {});
      throw err;
    }
  };
  try {
    const base = await garrison.start();
    console.log(`garrison at ${base}`);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light', timezoneId });
    page = await context.newPage();
    const origin = new URL(base).host;
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of (401|409|422|500)/.test(m.text())) console.log(`  [browser] ${m.text()}`);
    });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (!['data:', 'blob:'].includes(u.protocol) && u.host !== origin) problems.push(`request to another host: ${r.url()}`);
    });
    const tid = (id) => `[data-testid="${id}"]`;
    const visible = (sel, timeout = T) => page.locator(sel).first().waitFor({ state: 'visible', timeout });
    const waitText = (sel, expected, timeout = T) =>
      page.waitForFunction(([s, e]) => document.querySelector(s)?.textContent?.includes(e), [sel, expected], { timeout, polling: 100 });
    const apiCall = (method, url, body) =>
      page.evaluate(
        async ([m, u, b]) => {
          const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
          const r = await fetch(u, { method: m, headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: b === null ? undefined : JSON.stringify(b) });
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
    await step('log in', async () => {
      await page.goto(base + '/');
      await visible(tid('login-form'));
      await page.fill(tid('login-username'), 'admin');
      await page.fill(tid('login-password'), ADMIN_PASSWORD);
      await page.click(tid('login-submit'));
      await visible(tid('dashboard-empty'));
    });
    await steps({ step, page, base, visible, waitText, shot, apiCall, T });
  } catch (err) {
    failed = true;
    if (!passed) console.error(err);
    fs.writeFileSync(path.join(ARTIFACTS, 'garrison.log'), garrison.log.join('\n'));
  } finally {
    await browser?.close().catch(() => {});
    await garrison.dispose().catch((e) => console.error(e));
  }
  console.log(`\n${passed} passed${failed ? ', 1 failed' : ''}; screenshots in ${ARTIFACTS}`);
  process.exit(failed ? 1 : 0);
}
