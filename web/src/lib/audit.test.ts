import { describe, expect, it } from 'vitest';
import { actor, auditQuery, dayToMillis, detailPairs, viaLabel } from './audit';

describe('audit query', () => {
  it('leaves out empty filters', () => {
    expect(auditQuery({})).toBe('');
    expect(auditQuery({ action: '  ', user_id: '', server: '' })).toBe('');
  });

  it('passes filters, limit and cursor', () => {
    const q = new URLSearchParams(
      auditQuery({ action: 'server.power', user_id: 'u1', server: 's 1' }, { limit: 50, before: 42 }).slice(1),
    );
    expect(q.get('limit')).toBe('50');
    expect(q.get('before')).toBe('42');
    expect(q.get('action')).toBe('server.power');
    expect(q.get('user_id')).toBe('u1');
    expect(q.get('server')).toBe('s 1');
  });

  it('takes "server.*" or "server." as the prefix "server"', () => {
    expect(auditQuery({ action: 'server.*' })).toBe('?action=server');
    expect(auditQuery({ action: 'server.' })).toBe('?action=server');
  });

  it('turns days into a [from, to) range covering the last day', () => {
    const from = dayToMillis('2026-03-01')!;
    const to = dayToMillis('2026-03-01', true)!;
    expect(new Date(from).getDate()).toBe(1);
    expect(new Date(to).getDate()).toBe(2);
    expect(to - from).toBeGreaterThanOrEqual(23 * 3600_000);
    const q = new URLSearchParams(auditQuery({ from: '2026-03-01', to: '2026-03-01' }).slice(1));
    expect(Number(q.get('from'))).toBe(from);
    expect(Number(q.get('to'))).toBe(to);
    expect(dayToMillis('yesterday')).toBeNull();
  });
});

describe('audit display', () => {
  it('names the actor', () => {
    expect(actor({ username: 'friend', user_id: 'u1' })).toBe('friend');
    expect(actor({ username: null, user_id: 'u1' })).toBe('u1');
    expect(actor({ username: null, user_id: null })).toBe('Garrison');
  });

  it('labels via', () => {
    expect(viaLabel('key:abc')).toBe('API key abc');
    expect(viaLabel('session')).toBe('session');
    expect(viaLabel(null)).toBeNull();
  });

  it('flattens detail', () => {
    expect(detailPairs({ username: 'friend', permissions: ['server.read', 'control.start'], n: 2, gone: null })).toEqual([
      ['username', 'friend'],
      ['permissions', 'server.read, control.start'],
      ['n', '2'],
    ]);
    expect(detailPairs(null)).toEqual([]);
    expect(detailPairs(5)).toEqual([['detail', '5']]);
  });
});
