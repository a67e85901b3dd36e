import { describe, expect, it } from 'vitest';
import { formatBytes, formatPercent, formatPlayers, formatUptime, safeLink } from './format';
import { parsePort, parseWhole } from './forms';

describe('format', () => {
  it('bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(50 * 1024 * 1024)).toBe('50 MiB');
    expect(formatBytes(3.25 * 1024 ** 3)).toBe('3.3 GiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
  });

  it('percent', () => {
    expect(formatPercent(0)).toBe('0.0 %');
    expect(formatPercent(3.14159)).toBe('3.1 %');
    expect(formatPercent(42.6)).toBe('43 %');
    expect(formatPercent(250)).toBe('250 %');
    expect(formatPercent(undefined)).toBe('—');
    expect(formatPercent(NaN)).toBe('—');
  });

  it('uptime', () => {
    expect(formatUptime(0)).toBe('—');
    expect(formatUptime(59)).toBe('59s');
    expect(formatUptime(61)).toBe('1m 1s');
    expect(formatUptime(3725)).toBe('1h 2m 5s');
    expect(formatUptime(90061)).toBe('1d 1h 1m');
  });

  it('players', () => {
    expect(formatPlayers(null)).toBe('—');
    expect(formatPlayers({ online: 3, max: 20 })).toBe('3 / 20');
  });

  it('form numbers', () => {
    expect(parsePort(' 27015 ')).toBe(27015);
    expect(parsePort('70000')).toBe(70000); // the API says what range is allowed
    expect(parsePort('12a')).toBeNull();
    expect(parsePort('')).toBeNull();
    expect(parseWhole('-3')).toBe(-3);
    expect(parseWhole('1.5')).toBeNull();
  });
});

describe('safeLink', () => {
  it('allows only web links', () => {
    expect(safeLink('https://example.test/a?b=c')).toBe('https://example.test/a?b=c');
    expect(safeLink('http://example.test/')).toBe('http://example.test/');
    expect(safeLink('javascript:alert(1)')).toBeNull();
    expect(safeLink('not a url')).toBeNull();
  });
});
