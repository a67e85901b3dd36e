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
  /** The server permissions the caller holds on it. */
  permissions?: string[];
  /** The owner's user id, or null. */
  owner?: string | null;
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

/** A user as the admin API shows it. */
export interface AdminUser {
  id: string;
  username: string;
  email: string | null;
  is_admin: boolean;
  disabled: boolean;
  created_at: number;
}

export interface Subuser {
  user_id: string;
  username: string;
  permissions: string[];
  created_at: number;
  updated_at: number;
}

export interface SessionInfo {
  id: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number | null;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

export interface AuditEntry {
  id: string;
  at: number;
  user_id: string | null;
  username: string | null;
  via: string | null;
  ip: string | null;
  server: string | null;
  action: string;
  target: string | null;
  detail: unknown;
}

export interface AuditPage {
  entries: AuditEntry[];
  next: number | null;
}

export interface AdminStats {
  users: number;
  admins: number;
  servers: number;
  servers_by_state: Record<string, number>;
  nodes: number;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  /** The key's scope; null: all of its owner's rights. */
  permissions?: string[] | null;
  allowed_ips?: string[] | null;
  expires_at?: number | null;
  /** Only in the answer to creation, shown once. */
  key?: string;
}
