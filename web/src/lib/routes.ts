/** The app's pages, from a URL path. Pure, so it can be tested. */
export type Route =
  | { page: 'login' }
  | { page: 'dashboard' }
  | { page: 'create' }
  | { page: 'account' }
  | { page: 'server'; id: string; tab: ServerTab }
  | { page: 'admin-users' }
  | { page: 'admin-audit' }
  | { page: 'admin-templates' }
  | { page: 'admin-node' }
  | { page: 'admin-alerts' }
  | { page: 'admin-channels' }
  | { page: 'notfound' };

export type ServerTab = 'console' | 'stats' | 'files' | 'backups' | 'schedules' | 'players' | 'startup' | 'settings' | 'users' | 'activity';
export const SERVER_TABS: ServerTab[] = ['console', 'stats', 'files', 'backups', 'schedules', 'players', 'startup', 'settings', 'users', 'activity'];

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'dashboard' };
  if (parts.length === 1) {
    if (parts[0] === 'login') return { page: 'login' };
    if (parts[0] === 'account') return { page: 'account' };
    if (parts[0] === 'servers') return { page: 'dashboard' };
  }
  if (parts[0] === 'admin') {
    if (parts.length === 1 || (parts.length === 2 && parts[1] === 'users')) return { page: 'admin-users' };
    if (parts.length === 2 && parts[1] === 'audit') return { page: 'admin-audit' };
    if (parts.length === 2 && parts[1] === 'templates') return { page: 'admin-templates' };
    if (parts.length === 2 && parts[1] === 'node') return { page: 'admin-node' };
    if (parts.length === 2 && parts[1] === 'alerts') return { page: 'admin-alerts' };
    if (parts.length === 2 && parts[1] === 'notifications') return { page: 'admin-channels' };
  }
  if (parts[0] === 'servers' && parts.length >= 2) {
    if (parts[1] === 'new' && parts.length === 2) return { page: 'create' };
    const tab = (parts[2] ?? 'console') as ServerTab;
    if (parts.length <= 3 && SERVER_TABS.includes(tab)) return { page: 'server', id: parts[1], tab };
  }
  return { page: 'notfound' };
}

export function serverPath(id: string, tab: ServerTab = 'console'): string {
  return `/servers/${encodeURIComponent(id)}/${tab}`;
}

/** Only same-site paths are followed after login (no open redirect). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/login')) return '/';
  return next;
}
