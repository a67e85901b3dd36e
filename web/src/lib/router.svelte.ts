import { parseRoute, type Route } from './routes';

/**
 * Asked before the page changes inside the app, with where it would go (path and query):
 * a message to confirm (the user may stay), or null when that is fine. The editor uses it
 * for unsaved changes.
 */
export type LeaveGuard = (to: string) => string | null;

/** History routing: Garrison serves index.html for every path outside /api. */
class Router {
  path = $state(location.pathname);
  search = $state(location.search);
  route: Route = $derived(parseRoute(this.path));
  private guards = new Set<LeaveGuard>();

  constructor() {
    addEventListener('popstate', () => {
      // Back/forward already moved the address: put it back when the user stays.
      if (!this.mayLeave(location.pathname + location.search)) {
        history.pushState(null, '', this.path + this.search);
        return;
      }
      this.sync();
    });
    // Follow same-origin links without reloading the page.
    document.addEventListener('click', (e) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      const a = (e.target as Element | null)?.closest?.('a');
      if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
      if (a.pathname.startsWith('/api/')) return;
      e.preventDefault();
      this.go(a.pathname + a.search + a.hash);
    });
  }

  private sync() {
    this.path = location.pathname;
    this.search = location.search;
  }

  /** Whether every guard lets the page go to `to` (asking the user where one objects). */
  mayLeave(to = ''): boolean {
    for (const g of this.guards) {
      const message = g(to);
      if (message && !confirm(message)) return false;
    }
    return true;
  }

  /** Registers a guard; the returned function removes it. */
  guard(g: LeaveGuard): () => void {
    this.guards.add(g);
    return () => this.guards.delete(g);
  }

  /**
   * Goes to `to`; false when a guard kept the user here. `force` skips the guards (the
   * session ended: there is no staying).
   */
  go(to: string, opts: { replace?: boolean; force?: boolean } = {}): boolean {
    const here = location.pathname + location.search;
    if (to !== here && !opts.force && !this.mayLeave(to)) return false;
    if (to !== here) {
      if (opts.replace) history.replaceState(null, '', to);
      else history.pushState(null, '', to);
    }
    this.sync();
    if (!opts.replace) window.scrollTo(0, 0);
    return true;
  }

  param(name: string): string | null {
    return new URLSearchParams(this.search).get(name);
  }
}

export const router = new Router();
export const go = (to: string, opts?: { replace?: boolean; force?: boolean }) => router.go(to, opts);
