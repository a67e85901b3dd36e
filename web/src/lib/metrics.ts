// Metrics history: ranges, the API's series turned into uPlot columns (with breaks
// where the server was not running), which charts a series has, and units. Pure.
import { formatBytes, formatPercent } from './format';

export type RangeKey = '1h' | '24h' | '7d' | '90d';
export type Resolution = 'raw' | 'minute' | 'hour';

export const RANGES: { key: RangeKey; label: string; ms: number }[] = [
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '24h', label: '24 h', ms: 86_400_000 },
  { key: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { key: '90d', label: '90 d', ms: 90 * 86_400_000 },
];

/** One point as `GET …/metrics` gives it; rolled-up points carry averages and `*_max`. */
export interface MetricPoint {
  at: number;
  cpu: number | null;
  cpu_max: number | null;
  memory: number | null;
  memory_max: number | null;
  disk: number | null;
  players: number | null;
  players_max: number | null;
  net_rx: number | null;
  net_tx: number | null;
  load1: number | null;
  memory_total: number | null;
  disk_total: number | null;
  samples: number | null;
}

export interface MetricSeries {
  target: string;
  resolution: Resolution;
  from: number;
  to: number;
  points: MetricPoint[];
}

export interface NodeCurrent {
  cpu_percent: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
  disk_used_bytes: number;
  disk_total_bytes: number;
  load: [number, number, number];
  sampled_at: number;
}

export interface NodeMetrics extends MetricSeries {
  current: NodeCurrent | null;
}

export type TopBy = 'cpu' | 'memory' | 'disk' | 'players';
export const TOP_BY: { key: TopBy; label: string }[] = [
  { key: 'cpu', label: 'CPU' },
  { key: 'memory', label: 'Memory' },
  { key: 'disk', label: 'Disk' },
  { key: 'players', label: 'Players' },
];

export interface TopConsumer {
  server: string;
  name: string;
  cpu_percent: number;
  memory_bytes: number;
  disk_bytes: number;
  players: number | null;
  sampled_at: number;
}

/** The unix-millis window of a range ending now. */
export function rangeBounds(key: RangeKey, now: number = Date.now()): { from: number; to: number } {
  const r = RANGES.find((x) => x.key === key) ?? RANGES[0];
  const to = Math.floor(now);
  return { from: to - r.ms, to };
}

export function metricsQuery(b: { from: number; to: number }): string {
  return `?from=${Math.floor(b.from)}&to=${Math.floor(b.to)}`;
}

export function topQuery(by: TopBy, limit = 10): string {
  return `?by=${by}&limit=${Math.min(100, Math.max(1, Math.floor(limit)))}`;
}

/** Default sampling interval of the panel (`GARRISON_METRICS_SAMPLE_SECS`). */
export const DEFAULT_SAMPLE_SECS = 10;

/**
 * Seconds between two points of a resolution. The API does not say how often raw
 * samples are taken: for raw points it is the median distance between them.
 */
export function stepSecs(resolution: Resolution, points: Pick<MetricPoint, 'at'>[] = []): number {
  if (resolution === 'minute') return 60;
  if (resolution === 'hour') return 3600;
  const d: number[] = [];
  for (let i = 1; i < points.length; i++) {
    const gap = (points[i].at - points[i - 1].at) / 1000;
    if (gap > 0) d.push(gap);
  }
  if (d.length === 0) return DEFAULT_SAMPLE_SECS;
  d.sort((a, b) => a - b);
  const mid = d[Math.floor((d.length - 1) / 2)];
  return Math.max(1, mid);
}

export function resolutionLabel(resolution: Resolution, step?: number): string {
  if (resolution === 'minute') return 'per-minute averages';
  if (resolution === 'hour') return 'per-hour averages';
  return step ? `raw samples, every ${Math.round(step)} s` : 'raw samples';
}

export type Field = Exclude<keyof MetricPoint, 'at'>;
export type Columns = [number[], ...(number | null)[][]];

/**
 * uPlot columns: x in seconds, then one column per field. Where two points are
 * further apart than twice the step (the server was not running), a row of nulls is
 * put between them so the line breaks there.
 */
export function toColumns(points: MetricPoint[], fields: Field[], step: number): Columns {
  const xs: number[] = [];
  const ys: (number | null)[][] = fields.map(() => []);
  const limit = 2 * step * 1000;
  let prev: number | null = null;
  for (const p of points) {
    if (prev !== null && p.at - prev > limit) {
      xs.push((prev + step * 1000) / 1000);
      for (const col of ys) col.push(null);
    }
    xs.push(p.at / 1000);
    fields.forEach((f, i) => {
      const v = p[f];
      ys[i].push(typeof v === 'number' && Number.isFinite(v) ? v : null);
    });
    prev = p.at;
  }
  return [xs, ...ys];
}

/** Whether any point has a value for `field`. */
export function hasAny(points: MetricPoint[], field: Field): boolean {
  return points.some((p) => typeof p[field] === 'number');
}

export type Unit = 'percent' | 'bytes' | 'count' | 'load';

export function formatMetric(unit: Unit, v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  switch (unit) {
    case 'percent':
      return formatPercent(v);
    case 'bytes':
      return formatBytes(v);
    case 'count':
      return String(Math.round(v));
    case 'load':
      return v.toFixed(2);
  }
}

export interface LineSpec {
  field: Field;
  label: string;
  /** avg: the value itself; max: the rolled-up maximum (lighter); total: the capacity (dashed). */
  kind: 'avg' | 'max' | 'total';
}

export interface ChartSpec {
  key: 'cpu' | 'memory' | 'disk' | 'players' | 'load';
  title: string;
  unit: Unit;
  color: string;
  lines: LineSpec[];
  /** Smallest top of the y axis. */
  minMax?: number;
}

/**
 * The charts a series has: CPU, memory and disk always (a series without points shows
 * the empty state instead), players only when a point has them, load for the node.
 * Maxima are drawn when the points are rolled up; totals when the series carries them.
 */
export function chartsFor(kind: 'server' | 'node', s: Pick<MetricSeries, 'resolution' | 'points'>): ChartSpec[] {
  const rolled = s.resolution !== 'raw';
  const pts = s.points;
  const withMax = (field: Field, label: string, max: Field | null): LineSpec[] => {
    const out: LineSpec[] = [{ field, label, kind: 'avg' }];
    if (rolled && max && hasAny(pts, max)) out.push({ field: max, label: 'max', kind: 'max' });
    return out;
  };
  const out: ChartSpec[] = [
    {
      key: 'cpu',
      title: 'CPU',
      unit: 'percent',
      color: '#2f8f5f',
      lines: withMax('cpu', rolled ? 'CPU (avg)' : 'CPU', 'cpu_max'),
      minMax: kind === 'node' ? 100 : undefined,
    },
    {
      key: 'memory',
      title: 'Memory',
      unit: 'bytes',
      color: '#3b73c8',
      lines: [
        ...withMax('memory', rolled ? 'used (avg)' : 'used', 'memory_max'),
        ...(hasAny(pts, 'memory_total') ? [{ field: 'memory_total', label: 'total', kind: 'total' } as LineSpec] : []),
      ],
    },
    {
      key: 'disk',
      title: kind === 'node' ? 'Data disk' : 'Disk',
      unit: 'bytes',
      color: '#b7791f',
      lines: [
        { field: 'disk', label: 'used', kind: 'avg' },
        ...(hasAny(pts, 'disk_total') ? [{ field: 'disk_total', label: 'total', kind: 'total' } as LineSpec] : []),
      ],
    },
  ];
  if (hasAny(pts, 'players')) {
    out.push({
      key: 'players',
      title: 'Players',
      unit: 'count',
      color: '#8a4fbf',
      lines: withMax('players', rolled ? 'players (avg)' : 'players', 'players_max'),
    });
  }
  if (kind === 'node') {
    out.push({ key: 'load', title: 'Load (1 min)', unit: 'load', color: '#c05621', lines: [{ field: 'load1', label: 'load', kind: 'avg' }] });
  }
  return out;
}

/** The newest value of a field, for the chart's heading. */
export function latest(points: MetricPoint[], field: Field): number | null {
  for (let i = points.length - 1; i >= 0; i--) {
    const v = points[i][field];
    if (typeof v === 'number') return v;
  }
  return null;
}

/** How often a range is fetched again while shown (ms). */
export function refreshEvery(key: RangeKey): number {
  return key === '1h' ? 10_000 : key === '24h' ? 60_000 : 300_000;
}
