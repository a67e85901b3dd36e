import { describe, expect, it } from 'vitest';
import { parseRoute, safeNext, serverPath } from './routes';

describe('routes', () => {
  it('parses paths', () => {
    expect(parseRoute('/')).toEqual({ page: 'dashboard' });
    expect(parseRoute('/login')).toEqual({ page: 'login' });
    expect(parseRoute('/account')).toEqual({ page: 'account' });
    expect(parseRoute('/servers/new')).toEqual({ page: 'create' });
    expect(parseRoute('/servers/abc')).toEqual({ page: 'server', id: 'abc', tab: 'console' });
    expect(parseRoute('/servers/abc/stats')).toEqual({ page: 'server', id: 'abc', tab: 'stats' });
    expect(parseRoute('/servers/abc/nope')).toEqual({ page: 'notfound' });
    expect(parseRoute('/what')).toEqual({ page: 'notfound' });
    expect(parseRoute('/servers/abc/users')).toEqual({ page: 'server', id: 'abc', tab: 'users' });
    expect(parseRoute('/servers/abc/activity')).toEqual({ page: 'server', id: 'abc', tab: 'activity' });
    expect(parseRoute('/admin')).toEqual({ page: 'admin-users' });
    expect(parseRoute('/admin/users')).toEqual({ page: 'admin-users' });
    expect(parseRoute('/admin/audit')).toEqual({ page: 'admin-audit' });
    expect(parseRoute('/admin/templates')).toEqual({ page: 'admin-templates' });
    expect(parseRoute('/servers/abc/startup')).toEqual({ page: 'server', id: 'abc', tab: 'startup' });
    expect(parseRoute('/servers/abc/files')).toEqual({ page: 'server', id: 'abc', tab: 'files' });
    expect(parseRoute('/servers/abc/backups')).toEqual({ page: 'server', id: 'abc', tab: 'backups' });
    expect(parseRoute('/admin/nope')).toEqual({ page: 'notfound' });
  });

  it('round-trips server paths', () => {
    expect(parseRoute(serverPath('a b', 'settings'))).toEqual({ page: 'server', id: 'a b', tab: 'settings' });
  });

  it('follows only local paths after login', () => {
    expect(safeNext('/servers/x')).toBe('/servers/x');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/login?next=/')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});
