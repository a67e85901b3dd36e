// Permission names and what they allow, copied from crates/garrison-proto/src/permission.rs
// (the strings are stable: they are stored with subusers and API key scopes).

export type PermissionScope = 'account' | 'server' | 'admin';

export interface PermissionInfo {
  name: string;
  scope: PermissionScope;
  description: string;
}

export const PERMISSIONS: PermissionInfo[] = [
  { name: 'account.api_keys', scope: 'account', description: "Manage one's own API keys" },
  { name: 'account.security', scope: 'account', description: "Change one's own password and two-factor settings" },
  { name: 'template.read', scope: 'account', description: 'List the templates servers can be made from' },

  { name: 'server.read', scope: 'server', description: 'See the server, its state, stats and console output' },
  { name: 'control.console', scope: 'server', description: "Send commands to the server's console" },
  { name: 'control.start', scope: 'server', description: 'Start the server' },
  { name: 'control.stop', scope: 'server', description: 'Stop the server' },
  { name: 'control.restart', scope: 'server', description: 'Restart the server' },
  { name: 'control.kill', scope: 'server', description: "Kill the server's processes" },
  { name: 'file.read', scope: 'server', description: 'List files' },
  { name: 'file.read-content', scope: 'server', description: 'Read and download files' },
  { name: 'file.create', scope: 'server', description: 'Create and upload files' },
  { name: 'file.update', scope: 'server', description: 'Edit and rename files' },
  { name: 'file.delete', scope: 'server', description: 'Delete files' },
  { name: 'file.archive', scope: 'server', description: 'Compress and extract archives' },
  { name: 'file.sftp', scope: 'server', description: 'Use SFTP' },
  { name: 'backup.read', scope: 'server', description: 'List backups' },
  { name: 'backup.create', scope: 'server', description: 'Create backups' },
  { name: 'backup.delete', scope: 'server', description: 'Delete backups' },
  { name: 'backup.download', scope: 'server', description: 'Download backups' },
  { name: 'backup.restore', scope: 'server', description: 'Restore backups' },
  { name: 'schedule.read', scope: 'server', description: 'List schedules' },
  { name: 'schedule.create', scope: 'server', description: 'Create schedules' },
  { name: 'schedule.update', scope: 'server', description: 'Edit schedules' },
  { name: 'schedule.delete', scope: 'server', description: 'Delete schedules' },
  { name: 'user.read', scope: 'server', description: "List the server's subusers" },
  { name: 'user.create', scope: 'server', description: 'Invite subusers' },
  { name: 'user.update', scope: 'server', description: "Change subusers' permissions" },
  { name: 'user.delete', scope: 'server', description: 'Remove subusers' },
  { name: 'startup.read', scope: 'server', description: 'See the startup settings (port, variables, restart policy)' },
  { name: 'startup.update', scope: 'server', description: 'Change the startup settings' },
  { name: 'settings.rename', scope: 'server', description: 'Rename the server' },
  { name: 'settings.reinstall', scope: 'server', description: 'Reinstall the server' },
  { name: 'activity.read', scope: 'server', description: "Read the server's activity log" },

  { name: 'admin.servers.create', scope: 'admin', description: 'Create servers' },
  { name: 'admin.servers.delete', scope: 'admin', description: 'Delete servers' },
  { name: 'admin.nodes', scope: 'admin', description: 'Manage nodes' },
  { name: 'admin.users', scope: 'admin', description: 'Manage users' },
  { name: 'admin.templates', scope: 'admin', description: 'Manage templates' },
  { name: 'admin.settings', scope: 'admin', description: 'Change panel-wide settings' },
  { name: 'admin.audit', scope: 'admin', description: 'Read the panel-wide audit log' },
];

/** Every subuser has this: without it the server is invisible to them. */
export const IMPLIED = 'server.read';

export const SERVER_PERMISSIONS = PERMISSIONS.filter((p) => p.scope === 'server');

const GROUP_LABELS: Record<string, string> = {
  server: 'Server',
  control: 'Power and console',
  file: 'Files',
  backup: 'Backups',
  schedule: 'Schedules',
  user: 'Subusers',
  startup: 'Startup settings',
  settings: 'Server settings',
  activity: 'Activity',
  account: 'Own account',
  template: 'Templates',
  admin: 'Administration',
};

export interface PermissionGroup {
  key: string;
  label: string;
  permissions: PermissionInfo[];
}

/** The group a permission is listed under: the part before the first dot. */
export function groupKey(name: string): string {
  return name.split('.')[0];
}

/** Permissions grouped by prefix (control.*, file.*, ...), in the list's order. */
export function groupPermissions(list: PermissionInfo[]): PermissionGroup[] {
  const groups: PermissionGroup[] = [];
  for (const p of list) {
    const key = groupKey(p.name);
    let g = groups.find((g) => g.key === key);
    if (!g) {
      g = { key, label: GROUP_LABELS[key] ?? key, permissions: [] };
      groups.push(g);
    }
    g.permissions.push(p);
  }
  return groups;
}

export function describePermission(name: string): string {
  return PERMISSIONS.find((p) => p.name === name)?.description ?? name;
}

/**
 * What to send for a subuser: the chosen server permissions in the list's order, no
 * duplicates, unknown names dropped, and `server.read` always included.
 */
export function subuserGrant(chosen: Iterable<string>): string[] {
  const set = new Set(chosen);
  set.add(IMPLIED);
  return SERVER_PERMISSIONS.map((p) => p.name).filter((n) => set.has(n));
}

/** The permissions a subuser holds beyond `server.read`, for a short summary. */
export function grantSummary(perms: string[]): string {
  const extra = perms.filter((p) => p !== IMPLIED);
  if (extra.length === 0) return 'View only';
  if (SERVER_PERMISSIONS.every((p) => perms.includes(p.name))) return 'All permissions';
  return extra.join(', ');
}

/** Whether the caller holds `perm` on a server (as the API reported it). */
export function can(server: { permissions?: string[] } | null | undefined, perm: string): boolean {
  return !!server?.permissions?.includes(perm);
}
