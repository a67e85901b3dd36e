import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff';

describe('Backoff', () => {
  it('doubles up to the cap and resets', () => {
    const b = new Backoff(500, 4000, 0);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000, 4000, 4000]);
    b.reset();
    expect(b.next()).toBe(500);
  });

  it('adds bounded jitter', () => {
    const b = new Backoff(1000, 10_000, 0.5, () => 1);
    expect(b.next()).toBe(1500);
    const c = new Backoff(1000, 10_000, 0.5, () => 0);
    expect(c.next()).toBe(1000);
  });

  it('never overflows after many attempts', () => {
    const b = new Backoff(500, 15_000, 0);
    let last = 0;
    for (let i = 0; i < 200; i++) last = b.next();
    expect(last).toBe(15_000);
  });
});
