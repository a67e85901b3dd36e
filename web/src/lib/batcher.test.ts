import { describe, expect, it } from 'vitest';
import { LineBatcher } from './batcher';

function harness(maxLines = 5000) {
  const frames: (() => void)[] = [];
  const writes: string[] = [];
  const pendingDone: (() => void)[] = [];
  const b = new LineBatcher(
    (text, done) => {
      writes.push(text);
      pendingDone.push(done);
    },
    { schedule: (cb) => frames.push(cb), maxLines },
  );
  const frame = () => frames.splice(0).forEach((f) => f());
  const finish = () => pendingDone.splice(0).forEach((d) => d());
  return { b, frames, writes, frame, finish };
}

describe('LineBatcher', () => {
  it('writes all lines pushed within a frame as one write', () => {
    const h = harness();
    h.b.push(['a', 'b']);
    h.b.push(['c']);
    expect(h.writes).toEqual([]);
    expect(h.frames.length).toBe(1);
    h.frame();
    expect(h.writes).toEqual(['a\r\nb\r\nc\r\n']);
  });

  it('does not write again until the terminal has parsed the previous chunk', () => {
    const h = harness();
    h.b.push(['1']);
    h.frame();
    h.b.push(['2']);
    h.b.push(['3']);
    expect(h.frames.length).toBe(0); // nothing scheduled while writing
    h.finish();
    expect(h.frames.length).toBe(1);
    h.frame();
    expect(h.writes).toEqual(['1\r\n', '2\r\n3\r\n']);
  });

  it('keeps only the newest lines under a flood', () => {
    const h = harness(3);
    h.b.push(['a', 'b', 'c', 'd', 'e']);
    h.frame();
    expect(h.writes).toEqual(['c\r\nd\r\ne\r\n']);
    expect(h.b.trimmed).toBe(2);
  });

  it('handles 10,000 lines per second in a few writes', () => {
    const h = harness(5000);
    for (let ms = 0; ms < 1000; ms += 1) h.b.push([`line ${ms} \x1b[32mgreen\x1b[0m`.repeat(1)].concat(Array(9).fill('x')));
    h.frame();
    h.finish();
    expect(h.writes.length).toBe(1);
    expect(h.writes[0].split('\r\n').length - 1).toBe(5000);
  });

  it('passes raw text (notices) through in order and can be cleared', () => {
    const h = harness();
    h.b.push(['a']);
    h.b.pushRaw('[1 lines skipped]\r\n');
    h.b.push(['b']);
    h.frame();
    expect(h.writes[0]).toBe('a\r\n[1 lines skipped]\r\nb\r\n');
    h.finish();
    h.b.push(['gone']);
    h.b.clear();
    h.frame();
    expect(h.writes.length).toBe(1);
  });
});
