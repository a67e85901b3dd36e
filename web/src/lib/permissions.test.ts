import { describe, expect, it } from 'vitest';
import { PERMISSIONS, SERVER_PERMISSIONS, can, grantSummary, groupPermissions, subuserGrant } from './permissions';

describe('permissions', () => {
  it('lists unique names, server ones included', () => {
    const names = PERMISSIONS.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of ['control.start', 'control.stop', 'user.create', 'startup.update', 'activity.read', 'file.sftp']) {
      expect(SERVER_PERMISSIONS.some((p) => p.name === n)).toBe(true);
    }
    expect(SERVER_PERMISSIONS.some((p) => p.name.startsWith('admin.'))).toBe(false);
  });

  it('groups by prefix in order', () => {
    const groups = groupPermissions(SERVER_PERMISSIONS);
    expect(groups.map((g) => g.key)).toEqual([
      'server',
      'control',
      'file',
      'backup',
      'schedule',
      'user',
      'startup',
      'settings',
      'activity',
    ]);
    expect(groups.find((g) => g.key === 'control')!.permissions.map((p) => p.name)).toEqual([
      'control.console',
      'control.start',
      'control.stop',
      'control.restart',
      'control.kill',
    ]);
  });

  it('always grants server.read, in a stable order, without unknown names', () => {
    expect(subuserGrant(['control.start'])).toEqual(['server.read', 'control.start']);
    expect(subuserGrant(['activity.read', 'control.stop', 'control.stop', 'admin.users', 'nope'])).toEqual([
      'server.read',
      'control.stop',
      'activity.read',
    ]);
  });

  it('summarises a grant', () => {
    expect(grantSummary(['server.read'])).toBe('View only');
    expect(grantSummary(['server.read', 'control.start'])).toBe('control.start');
    expect(grantSummary(SERVER_PERMISSIONS.map((p) => p.name))).toBe('All permissions');
  });

  it('reads the permissions the API reports', () => {
    const s = { permissions: ['server.read', 'control.start'] };
    expect(can(s, 'control.start')).toBe(true);
    expect(can(s, 'control.stop')).toBe(false);
    expect(can({}, 'server.read')).toBe(false);
    expect(can(null, 'server.read')).toBe(false);
  });
});
