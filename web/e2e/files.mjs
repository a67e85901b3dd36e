// Browser tests of the file manager (the Files tab, issue 6). `run.mjs` calls
// `fileManagerSteps` with its page (signed in as the admin) and helpers.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const BIG = 9 * 1024 * 1024 + 12_345; // two upload chunks of 8 MiB

/**
 * The bytes the browser makes for the big upload (the same recipe in node, to compare):
 * a pseudo-random stream, so archives of it do not look like a zip bomb.
 */
function bigBytes() {
  const b = Buffer.alloc(BIG);
  let x = 12345;
  for (let i = 0; i < BIG; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

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
 * @param {number | null} [t.sftpPort]
 * @param {string} [t.adminName]
 */
export async function fileManagerSteps(t) {
  const { step, page, browser, base, visible, waitText, shot, apiCall, problems, T } = t;
  const tid = (id) => `[data-testid="${id}"]`;
  const row = (name) => `${tid('file-row')}[data-name="${name}"]`;
  const gone = (sel) => page.locator(sel).first().waitFor({ state: 'detached', timeout: T });
  const count = (sel) => page.locator(sel).count();
  let id;

  /** A write with a raw body (a file's text) from the page, with its CSRF token. */
  const putContent = (p, text) =>
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
  const content = async (p) => (await apiCall('GET', `/api/servers/${id}/files/content?path=${encodeURIComponent(p)}`)).json?.content;
  const filesUrl = (q = '') => `${base}/servers/${id}/files${q}`;
  const openMenu = async (name) => {
    await page.click(`${row(name)} ${tid('row-menu')}`);
    await visible(`${row(name)} ${tid('row-menu-list')}`);
  };
  const menu = async (name, item) => {
    await openMenu(name);
    await page.click(`${row(name)} ${tid(item)}`);
  };
  /** Deletes entries of the folder shown through the selection and its dialog. */
  const menuDelete = async (names) => {
    for (const n of names) await page.click(`${row(n)} ${tid('file-select')}`);
    await page.click(tid('selection-delete'));
    await page.click(tid('delete-files-dialog-confirm'));
    for (const n of names) await gone(row(n));
  };
  const editorReady = () => visible(`${tid('file-editor')}[data-status="ready"] .cm-content`);
  const editorText = () => page.evaluate(() => window.__garrison?.editorText?.());

  await step('files: a server with some files to work on', async () => {
    const made = await apiCall('POST', '/api/servers', { name: 'Files demo', template: 'demo' });
    if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
    id = made.json.id;
    // The demo's install runs first; files are there to see either way.
    const until = Date.now() + 40_000;
    while ((await apiCall('GET', `/api/servers/${id}`)).json?.state === 'installing') {
      if (Date.now() > until) throw new Error('the install did not end');
      await page.waitForTimeout(250);
    }
    for (const [p, text] of [
      ['notes.txt', 'hello from the api\n'],
      ['world/level.dat', 'not really a level\n'],
    ]) {
      if (p.includes('/')) {
        const dir = await apiCall('POST', `/api/servers/${id}/files/folder`, { path: p.split('/')[0] });
        if (dir.status !== 201 && dir.json?.error?.code !== 'file_exists') throw new Error(`folder answered ${dir.status}: ${dir.text}`);
      }
      const put = await putContent(p, text);
      if (put.status !== 200) throw new Error(`PUT ${p} answered ${put.status}: ${put.text}`);
    }
    // 150 files: more than a page.
    const many = await apiCall('POST', `/api/servers/${id}/files/folder`, { path: 'many' });
    if (many.status !== 201) throw new Error(`folder answered ${many.status}: ${many.text}`);
    const status = await page.evaluate(async (sid) => {
      const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
      const bad = [];
      for (let i = 0; i < 150; i++) {
        const name = `many/file-${String(i).padStart(3, '0')}.txt`;
        const r = await fetch(`/api/servers/${sid}/files/content?path=${encodeURIComponent(name)}`, {
          method: 'PUT',
          headers: { 'content-type': 'text/plain', 'x-csrf-token': csrf },
          body: 'x'.repeat(i + 1),
        });
        if (r.status !== 200) bad.push(`${name}: ${r.status}`);
      }
      return bad;
    }, id);
    if (status.length) throw new Error(`seeding many/ failed: ${status.slice(0, 3).join(', ')}`);
  });

  await step('files: the Files tab lists the root; folders, breadcrumbs and the path in the URL (reload, back, forward)', async () => {
    await page.goto(`${base}/servers/${id}/console`);
    await page.click(tid('tab-files'));
    await page.waitForURL(/\/files$/);
    await visible(tid('file-list'));
    await visible(`${row('world')}[data-kind="dir"]`);
    await visible(`${row('notes.txt')}[data-kind="file"]`);
    // Folders come first.
    const names = await page.locator(tid('file-row')).evaluateAll((rs) => rs.map((r) => r.getAttribute('data-kind')));
    if (names.indexOf('file') < names.lastIndexOf('dir')) throw new Error(`folders are not first: ${names}`);
    await visible(tid('disk-usage-text'));
    await shot('files');
    await page.click(`${row('world')} ${tid('file-link')}`);
    await page.waitForURL(/\/files\?path=world$/);
    await visible(row('level.dat'));
    await visible(`${tid('crumb-current')}[data-path="world"]`);
    await page.reload();
    await visible(row('level.dat'));
    await page.goBack();
    await page.waitForURL(/\/files$/);
    await visible(row('notes.txt'));
    await visible(`${tid('crumb-current')}[data-path=""]`);
    await page.goForward();
    await visible(row('level.dat'));
    await page.click(`${tid('crumb')}[data-path=""]`);
    await visible(row('notes.txt'));
  });

  await step('files: 150 entries page by 100 with counts; sorting by a header keeps it in the URL', async () => {
    await page.click(`${row('many')} ${tid('file-link')}`);
    await waitText(tid('files-count'), '1–100 of 150');
    if ((await count(tid('file-row'))) !== 100) throw new Error(`${await count(tid('file-row'))} rows on the first page`);
    await waitText(tid('files-page'), 'Page 1 of 2');
    await page.click(tid('files-next'));
    await page.waitForURL(/page=2/);
    await waitText(tid('files-count'), '101–150 of 150');
    await visible(row('file-149.txt'));
    if (await page.isEnabled(tid('files-next'))) throw new Error('Next is enabled on the last page');
    await page.click(tid('files-prev'));
    await waitText(tid('files-count'), '1–100 of 150');
    // Size, largest first: two clicks.
    await page.click(tid('sort-size'));
    await page.waitForURL(/sort=size/);
    await page.click(tid('sort-size'));
    await page.waitForURL(/order=desc/);
    const firstRow = () => page.locator(tid('file-row')).first().getAttribute('data-name');
    await page
      .waitForFunction(() => document.querySelector('[data-testid="file-row"]')?.getAttribute('data-name') === 'file-149.txt', null, { timeout: T })
      .catch(async () => {
        throw new Error(`largest first is ${await firstRow()}`);
      });
    if ((await page.getAttribute('th[aria-sort]', 'aria-sort')) !== 'descending') throw new Error('aria-sort is not descending');
    await page.reload();
    await visible(`${tid('file-row')}[data-name="file-149.txt"]`);
    if ((await firstRow()) !== 'file-149.txt') throw new Error('the sort did not survive a reload');
    // Select all on this page.
    await page.check(tid('select-all'));
    await waitText(tid('selection-count'), '100 selected');
    await page.click(tid('selection-clear'));
    await gone(tid('selection-bar'));
    await page.goto(filesUrl());
    await visible(row('notes.txt'));
  });

  await step('files: new folder (a bad name is refused in the dialog)', async () => {
    await page.click(tid('new-folder'));
    await visible(tid('new-folder-dialog-input'));
    await page.fill(tid('new-folder-dialog-input'), 'a/b');
    await waitText(tid('new-folder-dialog-problem'), '“/”');
    if (await page.isEnabled(tid('new-folder-dialog-confirm'))) throw new Error('a name with / can be sent');
    await page.fill(tid('new-folder-dialog-input'), 'world');
    await page.click(tid('new-folder-dialog-confirm'));
    await visible(tid('new-folder-dialog-error')); // exists already: the API's answer, in the dialog
    await shot('files-new-folder-error');
    await page.fill(tid('new-folder-dialog-input'), 'configs');
    await page.click(tid('new-folder-dialog-confirm'));
    await visible(`${row('configs')}[data-kind="dir"]`);
    await waitText(tid('files-notice'), 'configs');
  });

  await step('files: a URL pull to a private address is refused, said in its dialog', async () => {
    await page.click(tid('pull-open'));
    await page.fill(tid('pull-dialog-input'), 'not a link');
    await visible(tid('pull-dialog-problem'));
    await page.fill(tid('pull-dialog-input'), 'https://127.0.0.1:9/plugin.jar');
    await page.click(tid('pull-dialog-confirm'));
    await visible(tid('pull-dialog-error'), 30_000);
    await page.click(tid('pull-dialog-cancel'));
    if (await count(row('plugin.jar'))) throw new Error('a refused pull left a file');
  });

  await step('files: new file, typed in CodeMirror, saved with Ctrl+S; a reload shows the content', async () => {
    await page.click(`${row('configs')} ${tid('file-link')}`);
    await visible(tid('files-empty'));
    await page.click(tid('new-file'));
    await page.fill(tid('new-file-dialog-input'), 'server.yml');
    await page.click(tid('new-file-dialog-confirm'));
    await page.waitForURL(/\/files\?edit=configs%2Fserver\.yml$/);
    await editorReady();
    if ((await page.getAttribute(tid('file-editor'), 'data-language')) !== 'yaml') throw new Error('server.yml is not edited as YAML');
    await waitText(tid('editor-language'), 'YAML');
    await page.click(tid('editor-content'));
    await page.keyboard.type('motd: hello from the editor\nmax_players: 20\n');
    await visible(`${tid('editor-status')}[data-dirty="true"]`);
    await waitText(tid('editor-status'), 'Unsaved changes');
    // Highlighted: the YAML keys are their own spans.
    const spans = await page.locator(`${tid('file-editor')} .cm-line span`).count();
    if (spans === 0) throw new Error('no syntax highlighting');
    await shot('files-editor');
    const saved = page.waitForRequest((r) => r.method() === 'PUT' && r.url().includes('/files/content'));
    await page.keyboard.press('Control+s');
    await saved;
    await visible(`${tid('editor-status')}[data-dirty="false"]`);
    await waitText(tid('editor-status'), 'Saved');
    if ((await content('configs/server.yml')) !== 'motd: hello from the editor\nmax_players: 20\n') {
      throw new Error(`stored ${JSON.stringify(await content('configs/server.yml'))}`);
    }
    await page.reload();
    await editorReady();
    const text = await editorText();
    if (text !== 'motd: hello from the editor\nmax_players: 20\n') throw new Error(`after reload the editor holds ${JSON.stringify(text)}`);
    // The Save button does the same.
    await page.click(tid('editor-content'));
    await page.keyboard.press('Control+End');
    await page.keyboard.type('difficulty: hard\n');
    await page.click(tid('editor-save'));
    await visible(`${tid('editor-status')}[data-dirty="false"]`);
    if (!(await content('configs/server.yml'))?.endsWith('difficulty: hard\n')) throw new Error('Save did not store the change');
    // Our own create and saves come back as file events: they are no change on disk.
    await page.waitForTimeout(1500);
    if (await page.isVisible(tid('editor-changed'))) throw new Error('our own save was shown as a change on disk');
    // Another client writing the file is (the same bytes, so later steps still find
    // them; the time differs).
    const stored = await content('configs/server.yml');
    const put = await putContent('configs/server.yml', stored);
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
    await visible(tid('editor-changed'), 10_000);
    await page.click(tid('editor-reload'));
    await editorReady();
    if ((await editorText()) !== stored) throw new Error('Reload did not load the file');
    if (await page.isVisible(tid('editor-changed'))) throw new Error('the banner stayed after Reload');
  });

  await step('files: unsaved changes are guarded (in-app links, back, closing the tab)', async () => {
    await page.click(tid('editor-content'));
    await page.keyboard.press('Control+End');
    await page.keyboard.type('# not saved\n');
    await visible(`${tid('editor-status')}[data-dirty="true"]`);
    let asked = null;
    page.once('dialog', (d) => {
      asked = d.message();
      d.dismiss();
    });
    await page.click(tid('tab-console'));
    await page.waitForTimeout(300);
    if (!asked?.includes('unsaved')) throw new Error(`no confirmation before leaving (${asked})`);
    if (!page.url().includes('?edit=')) throw new Error(`left the editor: ${page.url()}`);
    await visible(`${tid('editor-status')}[data-dirty="true"]`);
    // Back/forward asks too.
    asked = null;
    page.once('dialog', (d) => {
      asked = d.message();
      d.dismiss();
    });
    await page.goBack({ waitUntil: 'commit' }).catch(() => {});
    await page.waitForTimeout(300);
    if (!asked) throw new Error('back left without asking');
    await visible(`${tid('editor-status')}[data-dirty="true"]`);
    // Closing or reloading the tab: the page asks the browser to confirm.
    const blocked = await page.evaluate(() => {
      const e = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(e);
      return e.defaultPrevented;
    });
    if (!blocked) throw new Error('beforeunload does not ask');
    page.once('dialog', (d) => d.accept());
    await page.click(tid('editor-back'));
    await page.waitForURL(/\/files\?path=configs$/);
    await visible(row('server.yml'));
    if ((await content('configs/server.yml'))?.includes('not saved')) throw new Error('the unsaved text was stored');
  });

  await step('files: drag and drop two files, each with its progress bar to 100 %; the picker too; a name that exists asks to Replace', async () => {
    const digest = await page.evaluate(async (size) => {
      const big = new Uint8Array(size);
      let x = 12345;
      for (let i = 0; i < size; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        big[i] = x >>> 24;
      }
      const dt = new DataTransfer();
      dt.items.add(new File([big], 'big.bin', { type: 'application/octet-stream' }));
      dt.items.add(new File(['small file\n'], 'small.txt', { type: 'text/plain' }));
      const zone = document.querySelector('[data-testid="file-browser"]');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
      const h = await crypto.subtle.digest('SHA-256', big);
      return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, '0')).join('');
    }, BIG);
    if (digest !== crypto.createHash('sha256').update(bigBytes()).digest('hex')) throw new Error('the test data differs');
    for (const name of ['big.bin', 'small.txt']) {
      await visible(`${tid('upload-item')}[data-name="${name}"]`);
      await visible(`${tid('upload-item')}[data-name="${name}"][data-status="done"][data-percent="100"]`, 60_000);
      const value = await page.locator(`${tid('upload-item')}[data-name="${name}"] ${tid('upload-progress')}`).evaluate((p) => p.value);
      if (value !== 100) throw new Error(`${name}'s bar shows ${value}`);
    }
    await shot('files-uploads');
    await visible(row('big.bin'));
    await visible(row('small.txt'));
    // The big file arrived whole (two chunks).
    const got = await page.evaluate(async (sid) => {
      const r = await fetch(`/api/servers/${sid}/files/download?path=configs%2Fbig.bin`);
      const h = await crypto.subtle.digest('SHA-256', await r.arrayBuffer());
      return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, '0')).join('');
    }, id);
    if (got !== digest) throw new Error('the uploaded file differs from what was sent');
    // The file picker.
    await page.setInputFiles(tid('upload-input'), { name: 'picked.txt', mimeType: 'text/plain', buffer: Buffer.from('picked\n') });
    await visible(`${tid('upload-item')}[data-name="picked.txt"][data-status="done"]`, T);
    await visible(row('picked.txt'));
    // Again: it exists, and Replace overwrites it.
    await page.click(tid('uploads-clear'));
    await gone(tid('upload-item'));
    await page.setInputFiles(tid('upload-input'), { name: 'picked.txt', mimeType: 'text/plain', buffer: Buffer.from('picked again\n') });
    await visible(`${tid('upload-item')}[data-name="picked.txt"][data-status="conflict"]`, T);
    await visible(`${tid('upload-item')}[data-name="picked.txt"] ${tid('upload-error')}`);
    await page.click(`${tid('upload-item')}[data-name="picked.txt"] ${tid('upload-replace')}`);
    await visible(`${tid('upload-item')}[data-name="picked.txt"][data-status="done"]`, T);
    if ((await content('configs/picked.txt')) !== 'picked again\n') throw new Error('Replace did not overwrite');
    await page.click(tid('uploads-clear'));
  });

  await step('files: a chunk lost on the way is sent again from where the server stopped; when it keeps failing, Retry resumes it', async () => {
    const patches = /\/files\/uploads\/[^/?]+\?offset=/;
    // The first chunk request breaks; the upload goes on by itself.
    let broken = 0;
    await page.route(patches, (route) => (broken++ === 0 ? route.abort('connectionreset') : route.continue()));
    await page.setInputFiles(tid('upload-input'), { name: 'resumed.bin', mimeType: 'application/octet-stream', buffer: bigBytes() });
    const item = `${tid('upload-item')}[data-name="resumed.bin"]`;
    await visible(`${item}[data-status="done"]`, 60_000);
    if (broken < 2) throw new Error('the chunk was not sent again');
    if ((await page.getAttribute(item, 'data-resumes')) === '0') throw new Error('the upload does not say it resumed');
    await page.unroute(patches);
    // Every chunk request breaks: after its automatic tries the upload stops with Retry.
    await page.route(patches, (route) => route.abort('connectionreset'));
    await page.setInputFiles(tid('upload-input'), { name: 'retried.bin', mimeType: 'application/octet-stream', buffer: bigBytes() });
    const item2 = `${tid('upload-item')}[data-name="retried.bin"]`;
    await visible(`${item2}[data-status="failed"]`, 60_000);
    await visible(`${item2} ${tid('upload-retry')}`);
    await shot('files-upload-failed');
    await page.unroute(patches);
    await page.click(`${item2} ${tid('upload-retry')}`);
    await visible(`${item2}[data-status="done"][data-percent="100"]`, 60_000);
    for (const name of ['resumed.bin', 'retried.bin']) {
      const got = await page.evaluate(
        async ([sid, p]) => {
          const r = await fetch(`/api/servers/${sid}/files/download?path=${encodeURIComponent(p)}`);
          const h = await crypto.subtle.digest('SHA-256', await r.arrayBuffer());
          return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, '0')).join('');
        },
        [id, `configs/${name}`],
      );
      if (got !== crypto.createHash('sha256').update(bigBytes()).digest('hex')) throw new Error(`${name} arrived different`);
    }
    await page.click(tid('uploads-clear'));
    await visible(row('retried.bin'));
    await menuDelete(['resumed.bin', 'retried.bin']);
  });

  await step('files: rename from the row menu', async () => {
    await menu('small.txt', 'menu-rename');
    await visible(tid('rename-dialog-input'));
    if ((await page.inputValue(tid('rename-dialog-input'))) !== 'small.txt') throw new Error('the dialog does not start from the name');
    await page.fill(tid('rename-dialog-input'), 'renamed.txt');
    await page.click(tid('rename-dialog-confirm'));
    await visible(row('renamed.txt'));
    await gone(row('small.txt'));
    if ((await content('configs/renamed.txt')) !== 'small file\n') throw new Error('the renamed file lost its content');
  });

  await step('files: multi-select (shift-click range) and delete with a confirmation that lists what goes', async () => {
    // By name: big.bin, picked.txt, renamed.txt, server.yml.
    await page.click(`${row('picked.txt')} ${tid('file-select')}`);
    await page.click(`${row('server.yml')} ${tid('file-select')}`, { modifiers: ['Shift'] });
    await waitText(tid('selection-count'), '3 selected');
    await page.click(`${row('server.yml')} ${tid('file-select')}`); // leave server.yml out
    await waitText(tid('selection-count'), '2 selected');
    await page.click(tid('selection-delete'));
    await visible(tid('delete-files-dialog'));
    const listed = await page.locator(tid('delete-files-item')).evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    if (JSON.stringify(listed.sort()) !== JSON.stringify(['configs/picked.txt', 'configs/renamed.txt'])) throw new Error(`the dialog lists ${listed}`);
    await shot('files-delete-confirm');
    await page.click(tid('delete-files-dialog-cancel'));
    await page.waitForTimeout(200);
    await visible(row('picked.txt'));
    await page.click(tid('selection-delete'));
    await page.click(tid('delete-files-dialog-confirm'));
    await gone(row('picked.txt'));
    await gone(row('renamed.txt'));
    await visible(row('server.yml'));
    await visible(row('big.bin'));
  });

  await step('files: compress a folder (zip), extract it elsewhere, and the files come back', async () => {
    await page.goto(filesUrl());
    await visible(row('configs'));
    await menu('configs', 'menu-compress');
    await visible(tid('compress-dialog'));
    await page.check(tid('compress-format-zip'));
    if ((await page.inputValue(tid('compress-name'))) !== 'configs.zip') throw new Error(`suggested ${await page.inputValue(tid('compress-name'))}`);
    await page.click(tid('compress-dialog-confirm'));
    await visible(row('configs.zip'), 30_000);
    // tar.gz of two entries, from the selection.
    await page.click(`${row('configs')} ${tid('file-select')}`);
    await page.click(`${row('notes.txt')} ${tid('file-select')}`);
    await page.click(tid('selection-compress'));
    await page.fill(tid('compress-name'), 'both.tar.gz');
    await page.click(tid('compress-dialog-confirm'));
    await visible(row('both.tar.gz'), 30_000);
    await page.click(tid('selection-clear')).catch(() => {});
    await menu('configs.zip', 'menu-extract');
    await page.fill(tid('extract-dialog-input'), '/restored');
    await page.click(tid('extract-dialog-confirm'));
    await visible(row('restored'), 30_000);
    await page.click(`${row('restored')} ${tid('file-link')}`);
    await visible(row('configs'));
    await page.click(`${row('configs')} ${tid('file-link')}`);
    await visible(row('server.yml'));
    await visible(row('big.bin'));
    if ((await content('restored/configs/server.yml'))?.includes('hello from the editor') !== true) throw new Error('the extracted file differs');
  });

  await step('files: search by name and by content; a result opens the file', async () => {
    await page.goto(filesUrl());
    await page.click(tid('search-open'));
    await page.fill(tid('search-query'), 'server.yml');
    await page.click(tid('search-submit'));
    await visible(`${tid('search-result')}[data-path="configs/server.yml"]`);
    await visible(`${tid('search-result')}[data-path="restored/configs/server.yml"]`);
    await page.check(tid('search-content'));
    await page.fill(tid('search-query'), 'hello from the editor');
    await page.click(tid('search-submit'));
    await visible(`${tid('search-result')}[data-path="configs/server.yml"]`);
    await waitText(`${tid('search-result')}[data-path="configs/server.yml"] ${tid('search-result-text')}`, 'motd: hello from the editor');
    await shot('files-search');
    await page.click(`${tid('search-result')}[data-path="configs/server.yml"] ${tid('search-result-link')}`);
    await page.waitForURL(/\?edit=configs%2Fserver\.yml$/);
    await editorReady();
  });

  await step('files: download links (the row menu and the editor) give the file', async () => {
    const [d1] = await Promise.all([page.waitForEvent('download'), page.click(tid('editor-download'))]);
    if (d1.suggestedFilename() !== 'server.yml') throw new Error(`downloaded ${d1.suggestedFilename()}`);
    if (!fs.readFileSync(await d1.path(), 'utf8').includes('hello from the editor')) throw new Error('the download is not the file');
    await page.goto(filesUrl());
    await openMenu('notes.txt');
    const href = await page.getAttribute(`${row('notes.txt')} ${tid('menu-download')}`, 'href');
    if (href !== `/api/servers/${id}/files/download?path=notes.txt`) throw new Error(`download link ${href}`);
    const [d2] = await Promise.all([page.waitForEvent('download'), page.click(`${row('notes.txt')} ${tid('menu-download')}`)]);
    if (d2.suggestedFilename() !== 'notes.txt') throw new Error(`downloaded ${d2.suggestedFilename()}`);
    if (fs.readFileSync(await d2.path(), 'utf8') !== 'hello from the api\n') throw new Error('the download is not the file');
    // A folder comes as .tar.gz.
    await openMenu('world');
    const [d3] = await Promise.all([page.waitForEvent('download'), page.click(`${row('world')} ${tid('menu-download')}`)]);
    if (d3.suggestedFilename() !== 'world.tar.gz') throw new Error(`folder downloaded as ${d3.suggestedFilename()}`);
    const head = fs.readFileSync(await d3.path()).subarray(0, 2);
    if (head[0] !== 0x1f || head[1] !== 0x8b) throw new Error('the folder download is not gzip');
  });

  await step('files: a file too large for the editor, or not text, is offered as a download instead', async () => {
    await page.goto(filesUrl('?edit=configs%2Fbig.bin'));
    await visible(`${tid('editor-unavailable')}[data-reason="too_large"]`);
    await waitText(tid('editor-unavailable'), 'too large for the editor');
    const href = await page.getAttribute(tid('editor-unavailable-download'), 'href');
    if (href !== `/api/servers/${id}/files/download?path=configs%2Fbig.bin`) throw new Error(`download link ${href}`);
    if (await page.isEnabled(tid('editor-save'))) throw new Error('Save is enabled without a file loaded');
    await shot('files-editor-too-large');
    await page.goto(filesUrl('?path=configs'));
    await page.setInputFiles(tid('upload-input'), { name: 'blob.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0xff, 0xfe, 0x00, 0x81, 0xc3]) });
    await visible(`${tid('upload-item')}[data-name="blob.bin"][data-status="done"]`, T);
    await page.click(`${row('blob.bin')} ${tid('file-link')}`);
    await visible(`${tid('editor-unavailable')}[data-reason="not_text"]`);
    await visible(tid('editor-unavailable-download'));
    await page.click(tid('editor-back'));
    await visible(row('blob.bin'));
    await page.click(tid('uploads-clear'));
    await page.goto(filesUrl());
    await visible(row('notes.txt'));
  });

  await step('files: permissions (octal), move by typed path, copy by the folder picker', async () => {
    await menu('notes.txt', 'menu-chmod');
    await page.fill(tid('chmod-dialog-input'), '9');
    await visible(tid('chmod-dialog-problem'));
    await page.fill(tid('chmod-dialog-input'), '600');
    await waitText(tid('chmod-dialog-hint'), '-rw-------');
    await page.click(tid('chmod-dialog-confirm'));
    await waitText(`${row('notes.txt')} .mode`, '-rw-------');
    // Move into world by typing the folder.
    await menu('notes.txt', 'menu-move');
    await page.fill(tid('move-dialog-to'), 'world');
    await page.click(tid('move-dialog-confirm'));
    await gone(row('notes.txt'));
    await page.click(`${row('world')} ${tid('file-link')}`);
    await visible(row('notes.txt'));
    // Copy it back to the top folder, picked in the folder browser.
    await menu('notes.txt', 'menu-copy');
    await page.click(tid('copy-dialog-browse'));
    await visible(tid('folder-picker'));
    await page.click(`${tid('picker-crumb')}[data-path=""]`);
    await visible(`${tid('folder-picker')}[data-path=""] ${tid('picker-dir')}[data-path="world"]`);
    await page.click(tid('picker-choose'));
    if ((await page.inputValue(tid('copy-dialog-to'))) !== '/') throw new Error(`picked ${await page.inputValue(tid('copy-dialog-to'))}`);
    await page.fill(tid('copy-dialog-name'), 'notes.txt');
    await page.click(tid('copy-dialog-confirm'));
    await waitText(tid('files-notice'), 'copied');
    await page.goto(filesUrl());
    await visible(row('notes.txt'));
    if ((await content('notes.txt')) !== 'hello from the api\n') throw new Error('the copy differs');
  });

  await step('files: a change made elsewhere shows up without a reload', async () => {
    await visible(row('notes.txt'));
    const put = await putContent('from-elsewhere.txt', 'made by another client\n');
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
    await visible(row('from-elsewhere.txt'), 10_000);
  });

  await step('files: the SFTP box shows host, port and the username, with a copyable sftp:// link', async () => {
    await visible(tid('sftp-box'));
    const user = (await page.textContent(tid('sftp-username')))?.trim() ?? '';
    if (!new RegExp(`^${t.adminName ?? 'admin'}\\.[0-9a-z]+$`, 'i').test(user)) throw new Error(`username ${user}`);
    const url = (await page.getAttribute(tid('sftp-url'), 'href')) ?? '';
    if (!url.startsWith(`sftp://${user}@`)) throw new Error(`link ${url}`);
    if (t.sftpPort && (await page.textContent(tid('sftp-port')))?.trim() !== String(t.sftpPort)) {
      throw new Error(`port ${await page.textContent(tid('sftp-port'))}, the server listens on ${t.sftpPort}`);
    }
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.click(tid('sftp-copy'));
    await waitText(tid('sftp-copy'), 'Copied');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== url) throw new Error(`copied ${copied}`);
  });

  await step('files: readable at 360 px and in dark mode', async () => {
    for (const [url, ready, name] of [
      [filesUrl(), tid('file-list'), 'files'],
      [filesUrl('?edit=configs%2Fserver.yml'), `${tid('file-editor')}[data-status="ready"]`, 'files-editor'],
    ]) {
      await page.setViewportSize({ width: 360, height: 740 });
      await page.goto(url);
      await visible(ready);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) throw new Error(`${url} scrolls sideways by ${overflow}px at 360px`);
      await shot(`${name}-360`);
      await page.setViewportSize({ width: 1280, height: 860 });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.reload();
      await visible(ready);
      await shot(`${name}-dark`);
      await page.emulateMedia({ colorScheme: 'light' });
    }
  });

  await step('files: a subuser with only file.read lists files but sees no write controls; the API refuses writes', async () => {
    const user = await apiCall('POST', '/api/admin/users', { username: 'filereader', password: 'file reader password' });
    if (user.status >= 300) throw new Error(`creating filereader answered ${user.status}: ${user.text}`);
    const invite = await apiCall('POST', `/api/servers/${id}/users`, { username: 'filereader', permissions: ['server.read', 'file.read'] });
    if (invite.status >= 300) throw new Error(`inviting filereader answered ${invite.status}: ${invite.text}`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    const reader = await context.newPage();
    reader.on('pageerror', (e) => problems.push(`filereader page error: ${e.message}`));
    try {
      const r = (sel) => reader.locator(sel).first();
      await reader.goto(`${base}/servers/${id}/files`);
      await r(tid('login-form')).waitFor({ timeout: T });
      await reader.fill(tid('login-username'), 'filereader');
      await reader.fill(tid('login-password'), 'file reader password');
      await reader.click(tid('login-submit'));
      await r(tid('file-list')).waitFor({ timeout: T });
      await r(tid('tab-files')).waitFor({ timeout: T });
      await r(row('notes.txt')).waitFor({ timeout: T });
      for (const hidden of ['upload-open', 'upload-input', 'new-file', 'new-folder', 'row-menu', 'sftp-box', 'search-content']) {
        if (await reader.locator(tid(hidden)).count()) throw new Error(`filereader sees ${hidden}`);
      }
      // Files are names, not links to the editor; folders can still be opened.
      if (await reader.locator(`${row('notes.txt')} ${tid('file-link')}`).count()) throw new Error('filereader gets an editor link');
      await r(`${row('world')} ${tid('file-link')}`).waitFor({ timeout: T });
      // Nothing could be done with a selection: no checkboxes.
      if (await reader.locator(tid('file-select')).count()) throw new Error('filereader gets selection checkboxes');
      if (await reader.locator(tid('select-all')).count()) throw new Error('filereader gets "select all"');
      // Search by name works; dropping files does nothing.
      await reader.click(tid('search-open'));
      await reader.fill(tid('search-query'), 'notes');
      await reader.click(tid('search-submit'));
      await r(`${tid('search-result')}[data-path="notes.txt"]`).waitFor({ timeout: T });
      await reader.screenshot({ path: path.join(t.artifacts, 'files-subuser.png'), fullPage: true });
      // The editor, opened by URL, says it may not read the file.
      await reader.goto(`${base}/servers/${id}/files?edit=notes.txt`);
      await r(tid('editor-load-error')).waitFor({ timeout: T });
      if (await reader.locator(tid('editor-save')).count()) throw new Error('filereader sees Save');
      const refused = await reader.evaluate(async (sid) => {
        const csrf = (document.cookie.match(/garrison_csrf=([^;]+)/) || [])[1] || '';
        const call = async (method, url, body) =>
          (await fetch(url, { method, headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: body && JSON.stringify(body) })).status;
        return {
          folder: await call('POST', `/api/servers/${sid}/files/folder`, { path: 'nope' }),
          delete: await call('POST', `/api/servers/${sid}/files/delete`, { paths: ['notes.txt'] }),
          rename: await call('POST', `/api/servers/${sid}/files/rename`, { from: 'notes.txt', to: 'x.txt' }),
          upload: await call('POST', `/api/servers/${sid}/files/uploads`, { path: 'x.bin', size: 1, overwrite: false }),
          read: await call('GET', `/api/servers/${sid}/files/content?path=notes.txt`),
          sftp: await call('GET', `/api/servers/${sid}/sftp`),
        };
      }, id);
      for (const [k, v] of Object.entries(refused)) if (v !== 403) throw new Error(`${k} answered ${v} for filereader`);
    } finally {
      await context.close();
    }
    // Without file.read there is no Files tab at all.
    const less = await apiCall('PATCH', `/api/servers/${id}/users/${user.json.id}`, { permissions: ['server.read'] });
    if (less.status >= 300) throw new Error(`PATCH subuser answered ${less.status}: ${less.text}`);
    const context2 = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const reader2 = await context2.newPage();
    try {
      await reader2.goto(`${base}/servers/${id}/files`);
      await reader2.locator(tid('login-form')).waitFor({ timeout: T });
      await reader2.fill(tid('login-username'), 'filereader');
      await reader2.fill(tid('login-password'), 'file reader password');
      await reader2.click(tid('login-submit'));
      await reader2.locator(tid('tab-forbidden')).waitFor({ timeout: T });
      if (await reader2.locator(tid('tab-files')).count()) throw new Error('a subuser without file.read sees the Files tab');
    } finally {
      await context2.close();
    }
  });
}
