import { describe, expect, it } from 'vitest';
import { SampleWindow } from './samples';
import { powerAllowed } from './power';

const stat = (ms: number, cpu = 1) => ({
  cpu_percent: cpu,
  memory_bytes: 10,
  disk_bytes: 20,
  uptime_secs: 1,
  processes: 1,
  sampled_at: ms,
});

describe('SampleWindow', () => {
  it('keeps the last window and ignores repeats', () => {
    const w = new SampleWindow(600);
    expect(w.add(stat(1_000_000))).toBe(true);
    expect(w.add(stat(1_000_000))).toBe(false);
    expect(w.add(stat(1_300_000))).toBe(true);
    expect(w.add(stat(1_700_000, 5))).toBe(true);
    expect(w.items.map((s) => s.t)).toEqual([1300, 1700]);
    expect(w.series('cpu')).toEqual([
      [1300, 1700],
      [1, 5],
    ]);
  });
});

describe('powerAllowed', () => {
  it('mirrors the server rules', () => {
    expect(powerAllowed('start', 'offline')).toBe(true);
    expect(powerAllowed('start', 'running')).toBe(false);
    expect(powerAllowed('stop', 'running')).toBe(true);
    expect(powerAllowed('kill', 'stopping')).toBe(true);
    expect(powerAllowed('restart', 'crashed')).toBe(true);
    expect(powerAllowed('stop', null)).toBe(false);
  });
});
