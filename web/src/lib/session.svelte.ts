import { ApiError, get, post, setUnauthorizedHandler } from './api';
import { go, router } from './router.svelte';
import type { User } from './types';

class Session {
  user = $state<User | null>(null);
  /** True until the first GET /api/account has answered. */
  checking = $state(true);
  error = $state<string | null>(null);

  async check() {
    this.checking = true;
    this.error = null;
    try {
      this.user = await get<User>('/account');
    } catch (e) {
      this.user = null;
      if (!(e instanceof ApiError && e.status === 401)) {
        this.error = e instanceof Error ? e.message : String(e);
      }
    } finally {
      this.checking = false;
    }
  }

  async logout() {
    try {
      await post('/auth/logout');
    } finally {
      this.user = null;
      go('/login', { replace: true, force: true });
    }
  }

  /** The API said the session is gone: to the login page, coming back here after. */
  lost() {
    this.user = null;
    if (router.route.page !== 'login') {
      const here = location.pathname + location.search;
      go(`/login?next=${encodeURIComponent(here)}`, { replace: true, force: true });
    }
  }
}

export const session = new Session();
setUnauthorizedHandler(() => session.lost());
