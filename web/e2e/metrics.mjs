// Browser tests of the metrics history: a server's Stats tab (ranges, resolution,
// gaps, local times, error state) and Admin → Node (the machine's charts, current
// values, top consumers linking to the server). `run.mjs` calls `metricSteps` with its
// page (signed in as the admin) and helpers; `node e2e/metrics.mjs` runs them alone
// against a garrison of their own that samples every SAMPLE_SECS seconds.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A sample every 2 s: a 1 h range then stays at raw points (1800 ≤ the API's 2500),
 * while with 1 s the API answers an hour with minute averages, which only appear once
 * whole minutes are rolled up (the first after about 75 s).
 */
export const SAMPLE_SECS = '2';

/** The time of `ms` as uPlot's legend writes it (`{YYYY}-{MM}-{DD} {h}:{mm}{aa}`) in `zone`. */
function legendTime(ms, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: 'numeric',
      minute: '2-digit',
      hour12: true,
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${parts.dayPeriod.toLowerCase()}`;
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
export async function metricSteps(t) {
  const { step, page, base, visible, waitText, shot, apiCall, T } = t;
  const tid = (id) => `[data-testid="${id}"]`;
  const until = async (what, fn, timeout = T) => {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await page.waitForTimeout(250);
    }
  };
  const attr = (sel, name) => page.locator(sel).first().getAttribute(name);
  const num = async (sel, name) => Number((await attr(sel, name)) ?? NaN);
  let id;
  const state = async () => (await apiCall('GET', `/api/servers/${id}`)).json?.state;
  const power = async (action, want) => {
    const r = await apiCall('POST', `/api/servers/${id}/power`, { action });
    if (r.status >= 300) throw new Error(`${action} answered ${r.status}: ${r.text}`);
    await until(`the server to be ${want}`, async () => (await state()) === want, 30_000);
  };
  // The 1 h chart is fetched again every 10 s; a reload is quicker to wait on.
  const chartPoints = async (min, timeout = 60_000) =>
    until(
      `the 1 h CPU chart to have more than ${min} points`,
      async () => {
        const sel = `${tid('history-chart-cpu')}`;
        if (!(await page.locator(`${sel} canvas`).count())) return false;
        return (await num(sel, 'data-points')) > min;
      },
      timeout,
    );

  await step('metrics: a running demo server gets a 1 h history on its Stats tab', async () => {
    const made = await apiCall('POST', '/api/servers', { name: 'Metrics demo', template: 'demo' });
    if (made.status !== 201) throw new Error(`POST /api/servers answered ${made.status}: ${made.text}`);
    id = made.json.id;
    await until('the install to end', async () => (await state()) !== 'installing', 40_000);
    await power('start', 'running');
    await page.goto(`${base}/servers/${id}/console`);
    await visible(tid('tab-stats'));
    await page.click(tid('tab-stats'));
    await page.waitForURL(/\/stats$/);
    // The live view is still there.
    await visible(`${tid('chart-cpu')} canvas`);
    await visible(tid('history'));
    if ((await attr(tid('history-range-1h'), 'aria-pressed')) !== 'true') throw new Error('1 h is not the first range');
    await chartPoints(2);
    if ((await attr(tid('history'), 'data-resolution')) !== 'raw') throw new Error(`1 h shown at ${await attr(tid('history'), 'data-resolution')}`);
    await waitText(tid('history-resolution'), `raw samples, every ${SAMPLE_SECS} s`);
    for (const c of ['memory', 'disk']) await visible(`${tid(`history-chart-${c}`)} canvas`);
    // The demo game counts players from its console (none joined): a players chart of zeros.
    await visible(tid('history-chart-players'));
    const mem = (await page.textContent(tid('history-latest-memory')))?.trim() ?? '';
    if (!/\d+(\.\d)? (B|KiB|MiB|GiB)$/.test(mem)) throw new Error(`latest memory shown as ${JSON.stringify(mem)}`);
    await shot('metrics-1h');
  });

  await step('metrics: the legend tells a point’s time in the browser’s zone', async () => {
    const over = page.locator(`${tid('history-chart-cpu')} .u-over`).first();
    const box = await over.boundingBox();
    if (!box) throw new Error('no plot area');
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
    const shown = (await page.locator(`${tid('history-chart-cpu')} .u-legend .u-series:first-child .u-value`).first().textContent())?.trim();
    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    const series = await apiCall('GET', `/api/servers/${id}/metrics`);
    const times = series.json.points.map((p) => legendTime(p.at, zone));
    if (!times.includes(shown)) throw new Error(`legend time ${JSON.stringify(shown)} is none of the points' times in ${zone}: ${times.slice(-3).join(', ')}`);
    if (zone !== 'UTC') {
      const utc = series.json.points.map((p) => legendTime(p.at, 'UTC'));
      if (utc.includes(shown) && !times.includes(shown)) throw new Error('times shown in UTC');
    }
    const cpu = (await page.locator(`${tid('history-chart-cpu')} .u-legend .u-series:nth-child(2) .u-value`).first().textContent())?.trim();
    if (!/%$/.test(cpu ?? '')) throw new Error(`legend CPU value ${JSON.stringify(cpu)}`);
    await page.mouse.move(0, 0);
  });

  await step('metrics: while the server was stopped the line breaks', async () => {
    const before = await num(tid('history-chart-cpu'), 'data-points');
    await power('stop', 'offline');
    // Longer than twice the sampling interval without samples.
    await page.waitForTimeout(Number(SAMPLE_SECS) * 3000 + 1000);
    await power('start', 'running');
    await page.reload();
    await visible(tid('history'));
    await until(
      'a gap in the 1 h chart',
      async () => {
        const sel = tid('history-chart-cpu');
        if (!(await page.locator(sel).count())) return false;
        return (await num(sel, 'data-gaps')) >= 1 && (await num(sel, 'data-points')) > before + 1;
      },
      60_000,
    );
    await shot('metrics-gap');
  });

  await step('metrics: 24 h and 7 d are coarser (or empty in a young store)', async () => {
    for (const [key, res] of [
      ['24h', 'minute'],
      ['7d', 'hour'],
    ]) {
      await page.click(tid(`history-range-${key}`));
      await until(`the ${key} series`, async () => (await attr(tid('history'), 'data-resolution')) === res && (await attr(tid('history'), 'data-range')) === key);
      await waitText(tid('history-resolution'), res === 'minute' ? 'per-minute averages' : 'per-hour averages');
      if ((await attr(tid(`history-range-${key}`), 'aria-pressed')) !== 'true') throw new Error(`${key} not shown as chosen`);
      const empty = await page.locator(tid('history-empty')).count();
      const chart = await page.locator(`${tid('history-chart-cpu')} canvas`).count();
      if (!empty && !chart) throw new Error(`${key}: neither charts nor the empty state`);
      if (empty) await waitText(tid('history-empty'), 'No history yet');
      await shot(`metrics-${key}`);
    }
  });

  await step('metrics: an API error shows, and Try again recovers', async () => {
    const pattern = (url) => url.pathname === `/api/servers/${id}/metrics`;
    await page.route(pattern, (r) =>
      r.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'internal', message: 'the store is away' } }) }),
    );
    await page.click(tid('history-range-90d'));
    await waitText(tid('history-error'), 'the store is away');
    await shot('metrics-error');
    await page.unroute(pattern);
    await page.click(`${tid('history-error')} button`);
    await page.locator(tid('history-error')).waitFor({ state: 'detached', timeout: T });
    await until('the 90 d series', async () => (await attr(tid('history'), 'data-resolution')) === 'hour');
    // And back to the hour.
    await page.click(tid('history-range-1h'));
    await chartPoints(2);
  });

  await step('metrics: Admin → Node shows the machine’s charts and current values', async () => {
    await page.click(tid('nav-admin'));
    await visible(tid('admin-nav'));
    await page.click(tid('admin-node-link'));
    await page.waitForURL(/\/admin\/node$/);
    await visible(tid('node-history'));
    for (const c of ['cpu', 'memory', 'disk', 'load']) await visible(`${tid(`node-history-chart-${c}`)} canvas`, 30_000);
    await until('node points', async () => (await num(tid('node-history-chart-cpu'), 'data-points')) > 0, 60_000);
    await waitText(tid('node-cpu'), '%');
    const mem = (await page.textContent(tid('node-memory')))?.trim() ?? '';
    if (!/^\S+ \S+ \/ \S+ \S+$/.test(mem)) throw new Error(`node memory shown as ${JSON.stringify(mem)}`);
    await waitText(tid('node-disk'), ' / ');
    const load = (await page.textContent(tid('node-load')))?.trim() ?? '';
    if (!/^\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d$/.test(load)) throw new Error(`load shown as ${JSON.stringify(load)}`);
    // Used and total: the memory chart has both lines.
    const labels = await page.locator(`${tid('node-history-chart-memory')} .u-legend .u-series .u-label`).allTextContents();
    if (!labels.includes('total')) throw new Error(`memory chart lines: ${labels.join(', ')}`);
    await shot('metrics-node');
  });

  await step('metrics: top consumers list the demo server, by CPU and by memory; its link opens it', async () => {
    const row = `${tid('top-row')}[data-server="${id}"]`;
    await visible(row, 30_000);
    await page.click(tid('top-by-memory'));
    await visible(`${tid('top-table')}[data-by="memory"] ${row}`, 30_000);
    if ((await attr(tid('top-by-memory'), 'aria-pressed')) !== 'true') throw new Error('memory not shown as chosen');
    await waitText(row, 'Metrics demo');
    await shot('metrics-top');
    await page.click(`${row} ${tid('top-link')}`);
    await page.waitForURL(new RegExp(`/servers/${id}/stats$`));
    await visible(tid('history'));
  });

  await step('metrics: the demo server is stopped again', async () => {
    await power('stop', 'offline');
  });
}

// ---- Alone: `node e2e/metrics.mjs` ----

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { runAlone } = await import('./harness.mjs');
  await runAlone({ name: 'metrics', env: { GARRISON_METRICS_SAMPLE_SECS: SAMPLE_SECS }, timezoneId: 'Asia/Kolkata', steps: metricSteps });
}
