// The Players tab: who is online now, the players-over-time chart (from the metrics
// series), and activity (peak, average, a bar per hour of day in the user's zone, recent
// joins and leaves). Pure, so it can be tested.

import type { ChartSpec, MetricSeries } from './metrics';

export interface PlayersNow {
  online: number | null;
  max: number | null;
  names: string[];
  source: 'query' | 'console' | null;
  updated_at: number | null;
}

export interface PlayerEvent {
  name: string;
  kind: 'joined' | 'left';
  at: number;
}

export interface PlayerActivity {
  from: number;
  to: number;
  peak: number | null;
  peak_at: number | null;
  average: number | null;
  by_hour: (number | null)[];
  events: PlayerEvent[];
}

export type PlayersRange = '24h' | '7d' | '90d';
export const PLAYER_RANGES: { key: PlayersRange; label: string; ms: number }[] = [
  { key: '24h', label: '24 h', ms: 86_400_000 },
  { key: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { key: '90d', label: '90 d', ms: 90 * 86_400_000 },
];

export function playersRangeBounds(key: PlayersRange, now = Date.now()): { from: number; to: number } {
  const r = PLAYER_RANGES.find((x) => x.key === key) ?? PLAYER_RANGES[0];
  const to = Math.floor(now);
  return { from: to - r.ms, to };
}

export const playersApi = (serverId: string, suffix = '') => `/servers/${encodeURIComponent(serverId)}/players${suffix}`;

export function activityQuery(b: { from: number; to: number }, zone: string): string {
  const p = new URLSearchParams({ from: String(Math.floor(b.from)), to: String(Math.floor(b.to)), timezone: zone });
  return `?${p.toString()}`;
}

export const SOURCE_LABELS: Record<string, string> = {
  query: 'from the game’s query protocol',
  console: 'from the console log',
};

export function sourceLabel(source: string | null | undefined): string {
  return source ? (SOURCE_LABELS[source] ?? source) : 'not reported';
}

/** "3 / 20", "3", or "—" when the game does not say. */
export function onlineLabel(p: Pick<PlayersNow, 'online' | 'max'> | null | undefined): string {
  if (!p || p.online == null) return '—';
  return p.max != null ? `${p.online} / ${p.max}` : String(p.online);
}

/** Names sorted case-insensitively, duplicates dropped. */
export function sortedNames(names: string[]): string[] {
  return [...new Set(names)].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
}

export interface HourBar {
  hour: number;
  value: number | null;
  /** Height as a share of the busiest hour, 0 to 1. */
  share: number;
}

/** 24 bars (missing hours as null), scaled to the busiest hour. */
export function hourBars(byHour: (number | null)[] | null | undefined): HourBar[] {
  const vals = Array.from({ length: 24 }, (_, h) => {
    const v = byHour?.[h];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  });
  const max = Math.max(0, ...vals.map((v) => v ?? 0));
  return vals.map((value, hour) => ({ hour, value, share: value != null && max > 0 ? value / max : 0 }));
}

/** Hour of day as the locale writes it: "00", "13" or "1 PM". */
export function hourLabel(hour: number, locale?: string): string {
  try {
    return new Intl.DateTimeFormat(locale, { hour: '2-digit', timeZone: 'UTC' }).format(Date.UTC(2020, 0, 1, hour));
  } catch {
    return String(hour).padStart(2, '0');
  }
}

/** 2.345 → "2.3", null → "—". */
export function formatAverage(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  return v >= 10 ? String(Math.round(v)) : v.toFixed(1);
}

/** The chart of players over time: the average line, maxima when rolled up. */
export function playersChart(s: Pick<MetricSeries, 'resolution' | 'points'>): ChartSpec {
  const rolled = s.resolution !== 'raw';
  const lines: ChartSpec['lines'] = [{ field: 'players', label: rolled ? 'players (avg)' : 'players', kind: 'avg' }];
  if (rolled && s.points.some((p) => typeof p.players_max === 'number')) lines.push({ field: 'players_max', label: 'max', kind: 'max' });
  return { key: 'players', title: 'Players', unit: 'count', color: '#8a4fbf', lines, minMax: 1 };
}

export const eventVerb = (e: PlayerEvent) => (e.kind === 'joined' ? 'joined' : 'left');
