import { describe, expect, it } from 'vitest';
import { planBatch, planHistory } from './sequence';

describe('planHistory', () => {
  it('first connect writes everything after a reset', () => {
    expect(planHistory(null, ['a', 'b'], 2)).toEqual({ reset: true, skipped: 0, lines: ['a', 'b'] });
  });

  it('a reconnect writes only lines not on screen', () => {
    // Screen shows up to seq 4 (next 5); history holds seqs 3..6.
    expect(planHistory(5, ['l3', 'l4', 'l5', 'l6'], 7)).toEqual({ reset: false, skipped: 0, lines: ['l5', 'l6'] });
    expect(planHistory(7, ['l5', 'l6'], 7)).toEqual({ reset: false, skipped: 0, lines: [] });
  });

  it('reports lines lost while disconnected', () => {
    expect(planHistory(5, ['l10', 'l11'], 12)).toEqual({ reset: false, skipped: 5, lines: ['l10', 'l11'] });
  });

  it('starts over when numbering went backwards (Garrison restarted)', () => {
    expect(planHistory(500, ['x'], 1)).toEqual({ reset: true, skipped: 0, lines: ['x'] });
  });
});

describe('planBatch', () => {
  it('drops lines already shown and reports gaps', () => {
    expect(planBatch(5, 5, ['a'])).toEqual({ skipped: 0, lines: ['a'] });
    expect(planBatch(5, 3, ['a', 'b', 'c'])).toEqual({ skipped: 0, lines: ['c'] });
    expect(planBatch(5, 1, ['a'])).toEqual({ skipped: 0, lines: [] });
    expect(planBatch(5, 8, ['a'])).toEqual({ skipped: 3, lines: ['a'] });
    expect(planBatch(null, 8, ['a'])).toEqual({ skipped: 0, lines: ['a'] });
  });
});
