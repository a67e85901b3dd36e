import { describe, expect, it } from 'vitest';
import { expiryMillis, parsePort, parseRanges } from './forms';

describe('forms', () => {
  it('parses ports', () => {
    expect(parsePort(' 27015 ')).toBe(27015);
    expect(parsePort('27o15')).toBeNull();
  });

  it('reads IP ranges from lines or commas', () => {
    expect(parseRanges('')).toBeNull();
    expect(parseRanges('  \n ')).toBeNull();
    expect(parseRanges('10.0.0.0/8\n192.168.1.5, ::1 10.0.0.0/8')).toEqual(['10.0.0.0/8', '192.168.1.5', '::1']);
  });

  it('takes an expiry day to its end', () => {
    expect(expiryMillis('')).toBeNull();
    expect(expiryMillis('soon')).toBe('invalid');
    const t = expiryMillis('2030-06-15') as number;
    const d = new Date(t);
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours()]).toEqual([2030, 5, 15, 23]);
  });
});
