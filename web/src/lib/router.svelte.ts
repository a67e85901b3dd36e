import { parseRoute, type Route } from './routes';

/** History routing: Garrison serves index.html for every path outside /api. */
class Router {
  path = $state(location.pathname);
  search = $state(location.search);
  route: Route = $derived(parseRoute(this.path));

  constructor() {
    addEventListener('popstate', () => this.sync());
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

  go(to: string, opts: { replace?: boolean } = {}) {
    const here = location.pathname + location.search;
    if (to !== here) {
      if (opts.replace) history.replaceState(null, '', to);
      else history.pushState(null, '', to);
    }
    this.sync();
    if (!opts.replace) window.scrollTo(0, 0);
  }

  param(name: string): string | null {
    return new URLSearchParams(this.search).get(name);
  }
}

export const router = new Router();
export const go = (to: string, opts?: { replace?: boolean }) => router.go(to, opts);
