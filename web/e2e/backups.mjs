// Browser tests of the Backups tab (issue 7). `run.mjs` calls `backupSteps` with its
// page (signed in as the admin) and helpers.
import path from 'node:path';

/**
 * @param {object} t
 * @param {(name: string, fn: () => Promise<void>) => Promise<void>} t.step
 * @param {import('playwright-core').Page} t.page
 * @param {import('playwright-core').Browser} t.browser
 * @param {string} t.base
 * @param {(sel: string, timeout?: number) => Promise<void>} t.visible
 * @param {(sel: string, text: string, timeout?: number) => Promise<void>} t.waitText
 * @param {(name: string) => Promise<void>} t.shot
 * @param {(method: string, url: string, body?: unknown) => Promise<{status: number, json: any, text: string}>} t.apiCall
 * @param {string[]} t.problems
 * @param {string} t.artifacts
 * @param {number} t.T
 */
export async function backupSteps(t) {
  const { step, page, browser, base, visible, waitText, shot, apiCall, problems, T } = t;
  const tid = (id) => `[data-testid="${id}"]`;
  const row = (name) => `${tid('backup-row')}[data-name="${name}"]`;
  const gone = (sel) => page.locator(sel).first().waitFor({ state: 'detached', timeout: T });
  const attr = (sel, name) => page.getAttribute(sel, name);
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
  let first; // the backup made from the UI

  const put = (p, text) =>
    page.evaluate(
      async ([sid, fp, body]) => {
        const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
        const r = await fetch(`/api/servers/${sid}/files/content?path=${encodeURIComponent(fp)}`, {
          method: 'PUT',
          headers: { 'content-type': 'text/plain', 'x-csrf-token': csrf },
          body,
        });
        return { status: r.status, text: await r.text() };
      },
      [id, p, text],
    );
  const write = async (p, text) => {
    const r = await put(p, text);
    if (r.status !== 200) throw new Error(`PUT ${p} answered ${r.status}: ${r.text}`);
  };
  const read = async (p) => {
    const r = await apiCall('GET', `/api/servers/${id}/files/content?path=${encodeURIComponent(p)}`);
    return r.status === 200 ? r.json?.content : null;
  };
  const state = async () => (await apiCall('GET', `/api/servers/${id}`)).json?.state;
  const list = async () => {
    const r = await apiCall('GET', `/api/servers/${id}/backups`);
    if (r.status !== 200) throw new Error(`GET backups answered ${r.status}: ${r.text}`);
    return r.json;
  };
  const tab = async () => {
    await page.goto(`${base}/servers/${id}/backups`);
    await visible(tid('backups-tab'));
  };

  await step('backups: a server with some files and the Backups tab', async () => {
    const made = await apiCall('POST', '/api/servers', { name: 'Backups demo', template: 'demo' });
    if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
    id = made.json.id;
    await until('the install to end', async () => (await state()) !== 'installing', 40_000);
    const dir = await apiCall('POST', `/api/servers/${id}/files/folder`, { path: 'world' });
    if (dir.status !== 201 && dir.json?.error?.code !== 'file_exists') throw new Error(`folder answered ${dir.status}: ${dir.text}`);
    await write('notes.txt', 'version one\n');
    await write('world/level.dat', 'level one\n');
    await write('debug.log', 'left out by the ignore list\n');
    const perms = (await apiCall('GET', `/api/servers/${id}`)).json?.permissions ?? [];
    for (const p of ['backup.read', 'backup.create', 'backup.delete', 'backup.download', 'backup.restore']) {
      if (!perms.includes(p)) throw new Error(`the owner does not hold ${p}: ${perms.join(', ')}`);
    }
    await page.goto(`${base}/servers/${id}/console`);
    await visible(tid('tab-backups'));
    await page.click(tid('tab-backups'));
    await page.waitForURL(/\/backups$/);
    await visible(tid('backups-empty'));
    await visible(tid('backup-limits'));
    await shot('backups-empty');
  });

  await step('backups: make one from the UI with an ignore list; it reaches ready with size and checksum', async () => {
    await page.click(tid('backup-create'));
    await visible(tid('backup-create-dialog'));
    await page.fill(tid('backup-name'), 'First');
    await page.fill(tid('backup-ignore'), '*.log\n');
    await shot('backups-create-dialog');
    await page.click(tid('backup-create-dialog-confirm'));
    await visible(row('First'));
    // Creating (with its progress) or already done: it ends ready.
    const sawCreating = (await attr(row('First'), 'data-state')) === 'creating';
    await visible(`${row('First')}[data-state="ready"]`, 60_000);
    const size = await page.textContent(`${row('First')} ${tid('backup-size')}`);
    if (!/\d/.test(size ?? '')) throw new Error(`size shown as ${size}`);
    const short = (await page.textContent(`${row('First')} ${tid('backup-checksum')}`))?.trim();
    const full = await attr(`${row('First')} ${tid('backup-checksum')}`, 'data-full');
    const title = await attr(`${row('First')} ${tid('backup-checksum')}`, 'title');
    if (!/^[0-9a-f]{64}$/.test(full ?? '')) throw new Error(`full checksum ${full}`);
    if (short !== full.slice(0, 12) || title !== full) throw new Error(`short checksum ${short}, title ${title}, full ${full}`);
    const l = await list();
    first = l.backups.find((b) => b.name === 'First');
    if (!first || first.state !== 'ready') throw new Error(`the API lists ${JSON.stringify(l.backups)}`);
    if (first.sha256 !== full) throw new Error(`the API's checksum ${first.sha256} is not the one shown ${full}`);
    if (!first.ignore?.includes('*.log')) throw new Error(`ignore list ${JSON.stringify(first.ignore)}`);
    await waitText(tid('backup-limits'), l.limits.max_count != null ? `1 of ${l.limits.max_count}` : '1 backup');
    const m = await apiCall('GET', `/api/servers/${id}/backups/${first.id}/manifest`);
    if (m.status !== 200) throw new Error(`manifest answered ${m.status}: ${m.text}`);
    const paths = m.json.entries.map((e) => e.path);
    if (!paths.includes('notes.txt') || !paths.includes('world/level.dat')) throw new Error(`manifest: ${paths.join(', ')}`);
    if (paths.includes('debug.log')) throw new Error('the ignored debug.log is in the backup');
    await shot('backups-ready');
    console.log(`        (the row was ${sawCreating ? 'seen creating first' : 'ready at once'})`);
  });

  await step('backups: another one right away is refused by the rate limit, said in words in the dialog', async () => {
    await page.click(tid('backup-create'));
    await page.fill(tid('backup-name'), 'Too soon');
    await page.click(tid('backup-create-dialog-confirm'));
    await waitText(tid('backup-create-error'), 'Too many backups in a short time: try again in');
    await shot('backups-rate-limited');
    await page.click(tid('backup-create-dialog-cancel'));
    if (await page.locator(row('Too soon')).count()) throw new Error('a refused backup is listed');
  });

  await step('backups: progress shows on the row while a big one is made, and Cancel ends it', async () => {
    // Another server (one backup per server per minute), with enough pseudo-random
    // bytes (they do not compress) that its backup takes a moment.
    const made = await apiCall('POST', '/api/servers', { name: 'Backups big', template: 'demo' });
    if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
    const big = made.json.id;
    const dir = await apiCall('POST', `/api/servers/${big}/files/folder`, { path: 'big' });
    if (dir.status !== 201) throw new Error(`folder answered ${dir.status}: ${dir.text}`);
    const bad = await page.evaluate(async (sid) => {
      const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
      let x = 7;
      const bad = [];
      for (let f = 0; f < 16; f++) {
        const b = new Uint8Array(4 * 1024 * 1024);
        for (let i = 0; i < b.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          b[i] = x >>> 24;
        }
        const r = await fetch(`/api/servers/${sid}/files/content?path=${encodeURIComponent(`big/blob-${f}.bin`)}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': csrf },
          body: b,
        });
        if (r.status !== 200) bad.push(`${f}: ${r.status} ${await r.text()}`);
      }
      return bad;
    }, big);
    if (bad.length) throw new Error(`writing big files failed: ${bad[0]}`);
    await page.goto(`${base}/servers/${big}/backups`);
    await visible(tid('backups-empty'));
    await page.click(tid('backup-create'));
    await page.fill(tid('backup-name'), 'Big one');
    await page.click(tid('backup-create-dialog-confirm'));
    await visible(row('Big one'));
    // 64 MiB takes a few seconds: the row shows its bar, bytes of the total and Cancel.
    await visible(`${row('Big one')}[data-state="creating"] ${tid('backup-progress')}`);
    await visible(`${row('Big one')} ${tid('backup-cancel')}`);
    await page.waitForFunction(
      (sel) => /^\d+ % · [\d.]+ MiB of 64 MiB · \d+ files?$/.test(document.querySelector(sel)?.textContent?.trim() ?? ''),
      `${row('Big one')} ${tid('backup-progress-text')}`,
      { timeout: T, polling: 50 },
    );
    const pct = Number(await attr(`${row('Big one')} ${tid('backup-progress')}`, 'data-percent'));
    if (!(pct > 0 && pct < 100)) throw new Error(`progress ${pct}`);
    await shot('backups-creating');
    // Cancel ends it: nothing is kept.
    await page.click(`${row('Big one')} ${tid('backup-cancel')}`);
    await visible(`${row('Big one')}[data-state="cancelled"]`, 30_000);
    if (await page.locator(`${row('Big one')} ${tid('backup-progress')}`).count()) throw new Error('a cancelled backup still shows progress');
    const l = (await apiCall('GET', `/api/servers/${big}/backups`)).json;
    if (l.backups[0]?.state !== 'cancelled' || l.backups[0]?.sha256) throw new Error(`the API lists ${JSON.stringify(l.backups[0])}`);
  });

  await step('backups: lock it and delete is disabled with a reason (the API refuses too); unlock', async () => {
    await tab();
    await page.click(`${row('First')} ${tid('backup-lock-toggle')}`);
    await visible(`${row('First')}[data-locked="true"] ${tid('backup-locked')}`);
    if (!(await page.isDisabled(`${row('First')} ${tid('backup-delete')}`))) throw new Error('delete is enabled on a locked backup');
    const why = await attr(`${row('First')} ${tid('backup-delete')}`, 'title');
    if (!/unlock/i.test(why ?? '')) throw new Error(`the reason is ${why}`);
    await shot('backups-locked');
    const refused = await apiCall('DELETE', `/api/servers/${id}/backups/${first.id}`);
    if (refused.status !== 409 || refused.json?.error?.code !== 'backup_locked') throw new Error(`DELETE of a locked backup answered ${refused.status}: ${refused.text}`);
    await page.click(`${row('First')} ${tid('backup-lock-toggle')}`);
    await visible(`${row('First')}[data-locked="false"]`);
    if (await page.isDisabled(`${row('First')} ${tid('backup-delete')}`)) throw new Error('delete stays disabled after unlocking');
    if ((await list()).backups.find((b) => b.id === first.id)?.locked !== false) throw new Error('the API still has it locked');
  });

  await step('backups: verify says the archive is fine; the download link streams the archive', async () => {
    await page.click(`${row('First')} ${tid('backup-verify')}`);
    await visible(`${row('First')} ${tid('backup-verify-result')}[data-integrity="ok"]`);
    const href = await attr(`${row('First')} ${tid('backup-download')}`, 'href');
    if (href !== `/api/servers/${id}/backups/${first.id}/download`) throw new Error(`download href ${href}`);
    const got = await page.evaluate(async (u) => {
      const r = await fetch(u);
      const buf = await r.arrayBuffer();
      const hash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))].map((b) => b.toString(16).padStart(2, '0')).join('');
      return { status: r.status, size: buf.byteLength, hash, disposition: r.headers.get('content-disposition') };
    }, href);
    if (got.status !== 200 || got.size !== first.size || got.hash !== first.sha256) throw new Error(`download: ${JSON.stringify(got)}, expected ${first.size} bytes ${first.sha256}`);
    if (!/attachment/i.test(got.disposition ?? '')) throw new Error(`download is not an attachment: ${got.disposition}`);
  });

  await step('backups: restore asks for the server to be stopped first, then brings the files back', async () => {
    await write('notes.txt', 'version two\n');
    await write('extra.txt', 'not in the backup\n');
    // Running: the API refuses (409 with the state), the dialog says to stop it.
    const start = await apiCall('POST', `/api/servers/${id}/power`, { action: 'start' });
    if (start.status >= 300) throw new Error(`start answered ${start.status}: ${start.text}`);
    await until('the server to run', async () => (await state()) === 'running', 30_000);
    const refused = await apiCall('POST', `/api/servers/${id}/backups/${first.id}/restore`, {});
    if (refused.status !== 409 || refused.json?.error?.code !== 'conflict' || !refused.json?.error?.state) {
      throw new Error(`restore while running answered ${refused.status}: ${refused.text}`);
    }
    await tab();
    await visible(`${tid('state-badge')}[data-state="running"]`);
    await visible(tid('backup-restore-hint'));
    await page.click(`${row('First')} ${tid('backup-restore')}`);
    await visible(tid('restore-dialog'));
    await visible(tid('restore-must-stop'));
    if (!(await page.isDisabled(tid('restore-dialog-confirm')))) throw new Error('restore can be confirmed while the server runs');
    await shot('backups-restore-running');
    await page.click(tid('restore-stop'));
    await visible(`${tid('state-badge')}[data-state="offline"]`, 30_000);
    await gone(tid('restore-must-stop'));
    await page.check(tid('restore-delete-extra'));
    await waitText(tid('restore-summary'), 'not in the backup are deleted');
    await shot('backups-restore-dialog');
    await page.click(tid('restore-dialog-confirm'));
    await visible(tid('restore-succeeded'), 60_000);
    await shot('backups-restored');
    if ((await read('notes.txt')) !== 'version one\n') throw new Error(`notes.txt is ${JSON.stringify(await read('notes.txt'))}`);
    if ((await read('world/level.dat')) !== 'level one\n') throw new Error('world/level.dat is not back');
    if ((await read('extra.txt')) !== null) throw new Error('extra.txt was kept though "delete files not in the backup" was chosen');
    const s = (await apiCall('GET', `/api/servers/${id}`)).json;
    if (s.restore?.state !== 'succeeded' || s.restore?.backup !== first.id) throw new Error(`the server's restore status: ${JSON.stringify(s.restore)}`);
    // After a reload the stored status still tells it.
    await page.reload();
    await visible(tid('restore-succeeded'));
  });

  await step('backups: a partial restore puts back only the chosen paths', async () => {
    await write('notes.txt', 'version three\n');
    await write('world/level.dat', 'level three\n');
    await page.click(`${row('First')} ${tid('backup-restore')}`);
    await visible(tid('restore-dialog'));
    await page.check(tid('restore-partial'));
    await visible(`${tid('restore-path')}[data-path="world"]`);
    await visible(`${tid('restore-path')}[data-path="notes.txt"]`);
    if (await page.locator(`${tid('restore-path')}[data-path="debug.log"]`).count()) throw new Error('the ignored file is offered');
    // Nothing chosen: it cannot be sent.
    await visible(tid('restore-problem'));
    if (!(await page.isDisabled(tid('restore-dialog-confirm')))) throw new Error('a partial restore of nothing can be confirmed');
    await page.fill(tid('restore-filter'), 'wor');
    await gone(`${tid('restore-path')}[data-path="notes.txt"]`);
    await page.click(`${tid('restore-path')}[data-path="world"] input`);
    await page.fill(tid('restore-filter'), '');
    await waitText(tid('restore-summary'), '/world');
    await shot('backups-restore-partial');
    await page.click(tid('restore-dialog-confirm'));
    await until('the partial restore to end', async () => {
      const r = (await apiCall('GET', `/api/servers/${id}`)).json?.restore;
      return r && r.state !== 'running' && r.started_at > Date.now() - 60_000 && (await read('world/level.dat')) === 'level one\n';
    }, 60_000);
    await visible(tid('restore-succeeded'));
    if ((await read('notes.txt')) !== 'version three\n') throw new Error('notes.txt was restored though only world was chosen');
  });

  await step('backups: a subuser with only backup.read sees the list read-only; without it there is no tab', async () => {
    const user = await apiCall('POST', '/api/admin/users', { username: 'backupreader', password: 'backup reader password' });
    if (user.status >= 300) throw new Error(`creating backupreader answered ${user.status}: ${user.text}`);
    const invite = await apiCall('POST', `/api/servers/${id}/users`, { username: 'backupreader', permissions: ['server.read', 'backup.read'] });
    if (invite.status >= 300) throw new Error(`inviting backupreader answered ${invite.status}: ${invite.text}`);
    const signIn = async (p) => {
      await p.goto(`${base}/servers/${id}/backups`);
      await p.locator(tid('login-form')).waitFor({ timeout: T });
      await p.fill(tid('login-username'), 'backupreader');
      await p.fill(tid('login-password'), 'backup reader password');
      await p.click(tid('login-submit'));
    };
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    const reader = await context.newPage();
    reader.on('pageerror', (e) => problems.push(`backupreader page error: ${e.message}`));
    try {
      await signIn(reader);
      await reader.locator(row('First')).first().waitFor({ timeout: T });
      await reader.locator(tid('tab-backups')).first().waitFor({ timeout: T });
      for (const hidden of ['backup-create', 'backup-delete', 'backup-restore', 'backup-download', 'backup-lock-toggle']) {
        if (await reader.locator(tid(hidden)).count()) throw new Error(`backupreader sees ${hidden}`);
      }
      await reader.locator(`${row('First')} ${tid('backup-checksum')}`).waitFor({ timeout: T });
      await reader.locator(`${row('First')} ${tid('backup-verify')}`).waitFor({ timeout: T });
      await reader.screenshot({ path: path.join(t.artifacts, 'backups-subuser.png'), fullPage: true });
      const refused = await reader.evaluate(
        async ([sid, bid]) => {
          const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
          const call = async (method, url, body) =>
            (await fetch(url, { method, headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: body && JSON.stringify(body) })).status;
          return {
            create: await call('POST', `/api/servers/${sid}/backups`, {}),
            delete: await call('DELETE', `/api/servers/${sid}/backups/${bid}`),
            lock: await call('POST', `/api/servers/${sid}/backups/${bid}/lock`, {}),
            restore: await call('POST', `/api/servers/${sid}/backups/${bid}/restore`, {}),
            download: await call('GET', `/api/servers/${sid}/backups/${bid}/download`),
          };
        },
        [id, first.id],
      );
      for (const [k, v] of Object.entries(refused)) if (v !== 403) throw new Error(`${k} answered ${v} for backupreader`);
    } finally {
      await context.close();
    }
    const less = await apiCall('PATCH', `/api/servers/${id}/users/${user.json.id}`, { permissions: ['server.read'] });
    if (less.status >= 300) throw new Error(`PATCH subuser answered ${less.status}: ${less.text}`);
    const context2 = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const reader2 = await context2.newPage();
    try {
      await signIn(reader2);
      await reader2.locator(tid('tab-forbidden')).waitFor({ timeout: T });
      if (await reader2.locator(tid('tab-backups')).count()) throw new Error('a subuser without backup.read sees the Backups tab');
    } finally {
      await context2.close();
    }
  });

  await step('backups: readable at 360 px and in dark mode', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await tab();
    await visible(row('First'));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`the Backups tab scrolls sideways by ${overflow}px at 360px`);
    await shot('backups-360');
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.reload();
    await visible(row('First'));
    await shot('backups-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  await step('backups: delete asks first, then the backup is gone', async () => {
    await tab();
    await page.click(`${row('First')} ${tid('backup-delete')}`);
    await visible(tid('backup-delete-dialog'));
    await waitText(tid('backup-delete-text'), 'cannot be undone');
    // Cancel keeps it.
    await page.click(tid('backup-delete-dialog-cancel'));
    await visible(row('First'));
    await page.click(`${row('First')} ${tid('backup-delete')}`);
    await page.click(tid('backup-delete-dialog-confirm'));
    await gone(row('First'));
    await visible(tid('backups-empty'));
    if ((await list()).backups.length !== 0) throw new Error('the API still lists backups');
    const after = await apiCall('GET', `/api/servers/${id}/backups/${first.id}`);
    if (after.status !== 404) throw new Error(`GET of the deleted backup answered ${after.status}`);
  });
}
