import type { Stats } from './types';

export interface Sample {
  /** Seconds since the epoch (uPlot's x unit). */
  t: number;
  cpu: number;
  mem: number;
  disk: number;
}

/**
 * The last `windowSecs` of stats samples, oldest first. A sample with the same or an
 * older timestamp than the newest one is ignored (hello repeats the latest sample).
 */
export class SampleWindow {
  items: Sample[] = [];
  constructor(private readonly windowSecs = 600) {}

  add(s: Stats): boolean {
    const t = s.sampled_at / 1000;
    const last = this.items[this.items.length - 1];
    if (last && t <= last.t) return false;
    this.items.push({ t, cpu: s.cpu_percent, mem: s.memory_bytes, disk: s.disk_bytes });
    const cutoff = t - this.windowSecs;
    let drop = 0;
    while (drop < this.items.length && this.items[drop].t < cutoff) drop++;
    if (drop > 0) this.items.splice(0, drop);
    return true;
  }

  /** Columns for uPlot: [times, values]. */
  series(key: 'cpu' | 'mem' | 'disk'): [number[], number[]] {
    return [this.items.map((s) => s.t), this.items.map((s) => s[key])];
  }
}
