import type { PowerAction, ServerState } from './types';

/** Mirrors garrison-proto's PowerAction::allowed_in, to enable only useful buttons. */
export function powerAllowed(action: PowerAction, state: ServerState | null | undefined): boolean {
  if (!state) return false;
  switch (action) {
    case 'start':
      return state === 'offline' || state === 'crashed';
    case 'stop':
      return state === 'starting' || state === 'running';
    case 'restart':
      return state === 'offline' || state === 'crashed' || state === 'starting' || state === 'running';
    case 'kill':
      return state === 'starting' || state === 'running' || state === 'stopping';
  }
}
