// Browser tests of the Players tab: a running demo server told `join alice`, `join bob`
// and `leave alice` on its console shows 1 online and "bob", where the count comes from,
// the activity (the two joins and the leave, newest first, peak and average, 24 bars by
// hour of day) and the players chart or its empty state for each range. `run.mjs` calls
// `playerSteps` with its page (signed in as the admin); `node e2e/players.mjs` runs them
// alone against a garrison of their own.
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
export async function playerSteps(t) {
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
  let id;
  const state = async () => (await apiCall('GET', `/api/servers/${id}`)).json?.state;
  const command = async (c) => {
    const r = await apiCall('POST', `/api/servers/${id}/command`, { command: c });
    if (r.status >= 300) throw new Error(`${c} answered ${r.status}: ${r.text}`);
  };

  await step('players: a running demo server, two joins and a leave on its console', async () => {
    const made = await apiCall('POST', '/api/servers', { name: 'Players demo', template: 'demo' });
    if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
    id = made.json.id;
    await until('the install to end', async () => (await state()) !== 'installing', 40_000);
    // Right after the install the state may still read installing for a moment.
    let r;
    await until('start to be taken', async () => {
      r = await apiCall('POST', `/api/servers/${id}/power`, { action: 'start' });
      return r.status < 300 || r.json?.error?.state !== 'installing';
    }, 30_000);
    if (r.status >= 300) throw new Error(`start answered ${r.status}: ${r.text}`);
    await until('the server to run', async () => (await state()) === 'running', 30_000);
    const now = await apiCall('GET', `/api/servers/${id}/players`);
    if (now.status !== 200) throw new Error(`GET /api/servers/{id}/players answered ${now.status}: ${now.text}`);
    await command('join alice');
    await command('join bob');
    await page.waitForTimeout(50);
    await command('leave alice');
    await until('the API to count bob alone', async () => {
      const p = (await apiCall('GET', `/api/servers/${id}/players`)).json;
      return p?.online === 1 && JSON.stringify(p.names) === '["bob"]';
    });
  });

  await step('players: the tab shows 1 online, bob, and where the count comes from', async () => {
    await page.goto(`${base}/servers/${id}/console`);
    await visible(tid('tab-players'));
    await page.click(tid('tab-players'));
    await page.waitForURL(/\/players$/);
    await visible(`${tid('players-now')}[data-online="1"]`);
    const online = (await page.textContent(tid('players-online')))?.trim() ?? '';
    if (!/^1( \/ \d+)?$/.test(online)) throw new Error(`online shown as ${JSON.stringify(online)}`);
    const names = await page.locator(tid('player-name')).allTextContents();
    if (JSON.stringify(names.map((n) => n.trim())) !== '["bob"]') throw new Error(`names ${JSON.stringify(names)}`);
    const source = await page.getAttribute(tid('players-source'), 'data-source');
    if (!source) throw new Error('no source shown');
    await waitText(tid('players-source'), source === 'console' ? 'console log' : 'query');
  });

  await step('players: recent activity lists the joins and the leave, newest first', async () => {
    await until(
      'three joins and leaves',
      async () => (await page.locator(tid('player-event')).count()) >= 3,
      30_000,
    );
    const rows = await page.locator(tid('player-event')).evaluateAll((els) => els.map((e) => `${e.dataset.kind} ${e.dataset.name}`));
    const mine = rows.filter((r) => /alice|bob/.test(r));
    if (JSON.stringify(mine.slice(0, 3)) !== JSON.stringify(['left alice', 'joined bob', 'joined alice'])) throw new Error(`events ${JSON.stringify(rows)}`);
    await waitText(tid('players-events'), 'Left');
    if ((await page.locator(`${tid('players-by-hour')} [data-hour]`).count()) !== 24) throw new Error('not 24 hour bars');
    const peak = (await page.textContent(`${tid('players-peak')} strong`))?.trim();
    if (!/^(\d+|—)$/.test(peak ?? '')) throw new Error(`peak ${JSON.stringify(peak)}`);
    await visible(`${tid('players-chart')}, ${tid('players-chart-empty')}`);
    await shot('players-24h');
  });

  await step('players: 7 d and 90 d ranges load', async () => {
    for (const key of ['7d', '90d']) {
      await page.click(tid(`players-range-${key}`));
      await visible(`${tid('players-history')}[data-range="${key}"]`);
      if ((await page.getAttribute(tid(`players-range-${key}`), 'aria-pressed')) !== 'true') throw new Error(`${key} not pressed`);
      await visible(`${tid('players-chart')}, ${tid('players-chart-empty')}`);
      await visible(tid('players-events'));
    }
    await shot('players-90d');
    await page.click(tid('players-range-24h'));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { runAlone } = await import('./harness.mjs');
  await runAlone({ name: 'players', env: { GARRISON_METRICS_SAMPLE_SECS: '2' }, timezoneId: 'Asia/Tokyo', steps: playerSteps });
}
