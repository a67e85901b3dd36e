export type ServerState = 'offline' | 'installing' | 'starting' | 'running' | 'stopping' | 'crashed';
export type PowerAction = 'start' | 'stop' | 'restart' | 'kill';

export interface Stats {
  cpu_percent: number;
  memory_bytes: number;
  disk_bytes: number;
  uptime_secs: number;
  processes: number;
  sampled_at: number;
}

export interface RestartPolicy {
  enabled: boolean;
  max_restarts: number;
  window_secs: number;
  backoff_secs: number;
}

export interface ExitInfo {
  code: number | null;
  signal: number | null;
  last_lines: string[];
}

export interface Server {
  id: string;
  name: string;
  template: string;
  game: string | null;
  port: number;
  variables: Record<string, string>;
  auto_start: boolean;
  restart: RestartPolicy;
  state: ServerState;
  state_changed_at: number;
  last_exit: ExitInfo | null;
  node: string;
  created_at: number;
  updated_at: number;
  /** Latest resource sample; absent on panels that predate it. */
  stats?: Stats | null;
  /** Player count, when the game reports it (not yet). */
  players?: { online: number; max?: number } | null;
}

export interface TemplateVariable {
  key: string;
  name: string;
  description: string;
  default: string;
  pattern?: string | null;
}

export interface Template {
  id: string;
  name: string;
  game: string;
  description: string;
  default_port: number;
  variables: TemplateVariable[];
}

export interface User {
  id: string;
  username: string;
  is_admin: boolean;
  created_at?: number;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  /** Only in the answer to creation, shown once. */
  key?: string;
}
