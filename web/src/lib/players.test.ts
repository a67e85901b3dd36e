import { describe, expect, it } from 'vitest';
import type { MetricPoint } from './metrics';
import { activityQuery, formatAverage, hourBars, hourLabel, onlineLabel, playersApi, playersChart, playersRangeBounds, sortedNames, sourceLabel } from './players';

const pt = (at: number, players: number | null, players_max: number | null = null) => ({ at, players, players_max }) as unknown as MetricPoint;

describe('players', () => {
  it('builds paths and queries', () => {
    expect(playersApi('a b')).toBe('/servers/a%20b/players');
    expect(playersApi('x', '/activity')).toBe('/servers/x/players/activity');
    expect(activityQuery({ from: 1.7, to: 1000 }, 'Europe/Berlin')).toBe('?from=1&to=1000&timezone=Europe%2FBerlin');
    expect(playersRangeBounds('7d', 1_000_000_000)).toEqual({ from: 1_000_000_000 - 7 * 86_400_000, to: 1_000_000_000 });
  });
  it('labels the count and its source', () => {
    expect(onlineLabel({ online: 3, max: 20 })).toBe('3 / 20');
    expect(onlineLabel({ online: 0, max: null })).toBe('0');
    expect(onlineLabel({ online: null, max: 20 })).toBe('—');
    expect(onlineLabel(null)).toBe('—');
    expect(sourceLabel('console')).toBe('from the console log');
    expect(sourceLabel(null)).toBe('not reported');
  });
  it('sorts names', () => {
    expect(sortedNames(['bob', 'Alice', 'bob', 'carol'])).toEqual(['Alice', 'bob', 'carol']);
  });
  it('scales the hour bars to the busiest hour', () => {
    const by = Array.from({ length: 24 }, () => null as number | null);
    by[3] = 2;
    by[20] = 4;
    const bars = hourBars(by);
    expect(bars).toHaveLength(24);
    expect(bars[20]).toEqual({ hour: 20, value: 4, share: 1 });
    expect(bars[3].share).toBe(0.5);
    expect(bars[0]).toEqual({ hour: 0, value: null, share: 0 });
    expect(hourBars(null).every((b) => b.value === null)).toBe(true);
    expect(hourBars([0, 0]).every((b) => b.share === 0)).toBe(true);
  });
  it('formats averages and hours', () => {
    expect(formatAverage(2.345)).toBe('2.3');
    expect(formatAverage(12.6)).toBe('13');
    expect(formatAverage(null)).toBe('—');
    expect(hourLabel(13, 'en-GB')).toBe('13');
    expect(hourLabel(13, 'en-US')).toMatch(/^01\s?PM$/);
  });
  it('charts players, with maxima when rolled up', () => {
    expect(playersChart({ resolution: 'raw', points: [pt(0, 1)] }).lines.map((l) => l.field)).toEqual(['players']);
    const rolled = playersChart({ resolution: 'minute', points: [pt(0, 1, 2)] });
    expect(rolled.lines.map((l) => [l.field, l.kind])).toEqual([
      ['players', 'avg'],
      ['players_max', 'max'],
    ]);
    expect(rolled.unit).toBe('count');
  });
});
