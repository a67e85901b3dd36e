import { describe, expect, it } from 'vitest';
import {
  chartsFor,
  formatMetric,
  hasAny,
  latest,
  metricsQuery,
  rangeBounds,
  resolutionLabel,
  stepSecs,
  toColumns,
  topQuery,
  type MetricPoint,
} from './metrics';
import { parseRoute } from './routes';

const pt = (at: number, over: Partial<MetricPoint> = {}): MetricPoint => ({
  at,
  cpu: 1,
  cpu_max: null,
  memory: 100,
  memory_max: null,
  disk: 10,
  players: null,
  players_max: null,
  net_rx: null,
  net_tx: null,
  load1: null,
  memory_total: null,
  disk_total: null,
  samples: 1,
  ...over,
});

describe('rangeBounds', () => {
  const now = 1_700_000_000_000;
  it('ends now and spans the range', () => {
    expect(rangeBounds('1h', now)).toEqual({ from: now - 3_600_000, to: now });
    expect(rangeBounds('24h', now)).toEqual({ from: now - 86_400_000, to: now });
    expect(rangeBounds('7d', now)).toEqual({ from: now - 7 * 86_400_000, to: now });
    expect(rangeBounds('90d', now)).toEqual({ from: now - 90 * 86_400_000, to: now });
  });
  it('gives whole milliseconds in the query', () => {
    expect(metricsQuery(rangeBounds('1h', now + 0.7))).toBe(`?from=${now - 3_600_000}&to=${now}`);
  });
  it('keeps the top limit in 1..100', () => {
    expect(topQuery('memory')).toBe('?by=memory&limit=10');
    expect(topQuery('cpu', 500)).toBe('?by=cpu&limit=100');
    expect(topQuery('disk', 0)).toBe('?by=disk&limit=1');
  });
});

describe('stepSecs', () => {
  it('is fixed for rolled-up resolutions', () => {
    expect(stepSecs('minute')).toBe(60);
    expect(stepSecs('hour')).toBe(3600);
  });
  it('is the median distance of raw points, a gap not counting', () => {
    const pts = [0, 2000, 4000, 6000, 600_000, 602_000].map((t) => pt(t));
    expect(stepSecs('raw', pts)).toBe(2);
  });
  it('falls back to the default interval with fewer than two points', () => {
    expect(stepSecs('raw', [pt(5)])).toBe(10);
    expect(stepSecs('raw', [])).toBe(10);
  });
  it('labels resolutions', () => {
    expect(resolutionLabel('raw', 10)).toBe('raw samples, every 10 s');
    expect(resolutionLabel('minute')).toBe('per-minute averages');
    expect(resolutionLabel('hour')).toBe('per-hour averages');
  });
});

describe('toColumns', () => {
  it('gives x in seconds and one column per field, nulls kept', () => {
    const cols = toColumns([pt(10_000, { cpu: 5 }), pt(20_000, { cpu: null })], ['cpu', 'memory'], 10);
    expect(cols).toEqual([
      [10, 20],
      [5, null],
      [100, 100],
    ]);
  });
  it('breaks the line where points are further apart than twice the step', () => {
    const cols = toColumns([pt(0), pt(10_000), pt(30_000), pt(100_000)], ['cpu'], 10);
    // 10 s → 30 s is exactly 2×: no break; 30 s → 100 s is a gap.
    expect(cols[0]).toEqual([0, 10, 30, 40, 100]);
    expect(cols[1]).toEqual([1, 1, 1, null, 1]);
  });
  it('works on rolled-up points with their step', () => {
    const h = 3_600_000;
    const cols = toColumns([pt(0), pt(h), pt(5 * h)], ['cpu'], 3600);
    expect(cols[0]).toEqual([0, 3600, 7200, 18000]);
    expect(cols[1]).toEqual([1, 1, null, 1]);
  });
  it('is empty for no points', () => {
    expect(toColumns([], ['cpu', 'disk'], 10)).toEqual([[], [], []]);
  });
});

describe('which series exist', () => {
  it('finds a field with any value', () => {
    expect(hasAny([pt(0), pt(1)], 'players')).toBe(false);
    expect(hasAny([pt(0), pt(1, { players: 0 })], 'players')).toBe(true);
  });
  it('a raw server series: CPU, memory, disk, no maxima, players only when reported', () => {
    const charts = chartsFor('server', { resolution: 'raw', points: [pt(0, { cpu_max: 3 })] });
    expect(charts.map((c) => c.key)).toEqual(['cpu', 'memory', 'disk']);
    expect(charts.every((c) => c.lines.every((l) => l.kind === 'avg'))).toBe(true);
    const withPlayers = chartsFor('server', { resolution: 'raw', points: [pt(0), pt(1, { players: 2 })] });
    expect(withPlayers.map((c) => c.key)).toEqual(['cpu', 'memory', 'disk', 'players']);
  });
  it('rolled-up points draw their maxima', () => {
    const charts = chartsFor('server', {
      resolution: 'minute',
      points: [pt(0, { cpu_max: 9, memory_max: 200, players: 1, players_max: 3 })],
    });
    const cpu = charts.find((c) => c.key === 'cpu')!;
    expect(cpu.lines.map((l) => [l.field, l.kind])).toEqual([
      ['cpu', 'avg'],
      ['cpu_max', 'max'],
    ]);
    expect(charts.find((c) => c.key === 'memory')!.lines.map((l) => l.field)).toEqual(['memory', 'memory_max']);
    expect(charts.find((c) => c.key === 'players')!.lines.map((l) => l.field)).toEqual(['players', 'players_max']);
  });
  it('the node has totals, load and a CPU axis up to 100 %', () => {
    const charts = chartsFor('node', { resolution: 'raw', points: [pt(0, { memory_total: 1000, disk_total: 50, load1: 0.5 })] });
    expect(charts.map((c) => c.key)).toEqual(['cpu', 'memory', 'disk', 'load']);
    expect(charts[0].minMax).toBe(100);
    expect(charts[1].lines.map((l) => [l.field, l.kind])).toEqual([
      ['memory', 'avg'],
      ['memory_total', 'total'],
    ]);
    expect(charts[2].lines.map((l) => l.field)).toEqual(['disk', 'disk_total']);
  });
  it('the newest value of a field skips nulls', () => {
    expect(latest([pt(0, { cpu: 4 }), pt(1, { cpu: null })], 'cpu')).toBe(4);
    expect(latest([], 'cpu')).toBeNull();
  });
});

describe('formatMetric', () => {
  it('formats bytes, percent, counts and load', () => {
    expect(formatMetric('bytes', 1536)).toBe('1.5 KiB');
    expect(formatMetric('bytes', 3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatMetric('percent', 12.345)).toBe('12 %');
    expect(formatMetric('percent', 3.21)).toBe('3.2 %');
    expect(formatMetric('percent', 250)).toBe('250 %');
    expect(formatMetric('count', 2.6)).toBe('3');
    expect(formatMetric('load', 0.5)).toBe('0.50');
  });
  it('shows a dash for no value', () => {
    expect(formatMetric('bytes', null)).toBe('—');
    expect(formatMetric('percent', undefined)).toBe('—');
    expect(formatMetric('count', NaN)).toBe('—');
  });
});

describe('the node page route', () => {
  it('is /admin/node', () => {
    expect(parseRoute('/admin/node')).toEqual({ page: 'admin-node' });
  });
});
