import { describe, expect, it } from 'vitest';
import { CommandHistory } from './history';

describe('CommandHistory', () => {
  it('walks back and forth and restores the draft', () => {
    const h = new CommandHistory();
    h.add('say one');
    h.add('say two');
    expect(h.up('typing')).toBe('say two');
    expect(h.up('say two')).toBe('say one');
    expect(h.up('say one')).toBeNull();
    expect(h.down()).toBe('say two');
    expect(h.down()).toBe('typing');
    expect(h.down()).toBeNull();
  });

  it('is empty at first', () => {
    const h = new CommandHistory();
    expect(h.up('')).toBeNull();
    expect(h.down()).toBeNull();
  });

  it('skips blanks and consecutive duplicates and is bounded', () => {
    const h = new CommandHistory(3);
    h.add('a');
    h.add('a');
    h.add('  ');
    h.add('b');
    h.add('c');
    h.add('d');
    expect(h.list()).toEqual(['b', 'c', 'd']);
  });

  it('starts from the newest again after sending', () => {
    const h = new CommandHistory();
    h.add('a');
    h.add('b');
    h.up('');
    h.up('');
    h.add('a');
    expect(h.up('')).toBe('a');
    expect(h.up('')).toBe('b');
  });
});
