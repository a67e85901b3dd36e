import type { RestoreStatus } from './backups';

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
  description?: string;
  limits?: Limits;
  /** The last install, or null when there was none. */
  install?: InstallStatus | null;
  /** The last restore of a backup, or null when there was none. */
  restore?: RestoreStatus | null;
}

export type VariableType = 'string' | 'integer' | 'boolean' | 'enum' | 'secret';

/** A variable's rules; every rule that is set must hold (the server is the authority). */
export interface VariableRules {
  required?: boolean;
  min?: number | null;
  max?: number | null;
  min_length?: number | null;
  max_length?: number | null;
  /** Must match the whole value. */
  regex?: string | null;
  one_of?: string[];
}

export interface TemplateVariable {
  key: string;
  env?: string | null;
  name: string;
  description: string;
  type: VariableType;
  default: string;
  user_viewable: boolean;
  user_editable: boolean;
  rules: VariableRules;
}

export type PortProtocol = 'tcp' | 'udp' | 'tcp_udp';

export interface PortSpec {
  name: string;
  protocol: PortProtocol;
  default?: number | null;
  offset: number;
}

export interface PromptPattern {
  url_regex: string;
  code_regex?: string | null;
  message: string;
}

export interface Template {
  id: string;
  name: string;
  game: string;
  description: string;
  category: string;
  tags: string[];
  startup: {
    command: string[];
    shell: boolean;
    done: unknown[];
    stop: unknown;
    stop_timeout_secs: number;
    restart_exit_codes: number[];
  };
  variables: TemplateVariable[];
  ports: PortSpec[];
  install: { type: string; [k: string]: unknown }[];
  config_files: unknown[];
  env: Record<string, string>;
  runtimes: { native: boolean; docker?: { name: string; image: string }[] };
  requirements: { binaries?: string[]; min_memory_mb?: number | null; java?: number | null; docker: boolean };
  prompts: PromptPattern[];
  origin: 'built_in' | 'custom';
}

/** A variable as the startup settings show it, with this server's value. */
export interface StartupVariable extends TemplateVariable {
  env: string;
  value: string;
  /** Whether the caller may change it. */
  editable: boolean;
}

export interface Startup {
  template: { id: string; name: string };
  /** The startup command with the values filled in, secrets masked. */
  command: string;
  variables: StartupVariable[];
  ports: { name: string; protocol: PortProtocol; port: number }[];
  auto_start: boolean;
  restart: RestartPolicy;
  limits: Limits;
}

export interface Limits {
  memory_mb: number;
  disk_mb: number;
  cpu_percent: number;
}

export type InstallState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface InstallStatus {
  state: InstallState;
  started_at: number;
  finished_at?: number | null;
  error?: string | null;
}

/** Something the user must do outside Garrison: open `url`, enter `code`. */
export interface Prompt {
  url: string;
  code?: string | null;
  message: string;
}

export type InstallPhase = 'started' | 'step' | 'progress' | 'prompt' | 'finished' | 'failed' | 'cancelled';

export interface InstallEvent {
  server: string;
  phase: InstallPhase;
  message?: string | null;
  step?: number | null;
  steps?: number | null;
  kind?: string | null;
  bytes?: number | null;
  total_bytes?: number | null;
  percent?: number | null;
  prompt?: Prompt | null;
}

/** The first frame of every console connection: where things stand now. */
export interface Hello {
  server: string;
  state: ServerState | null;
  stats: Stats | null;
  /** The running install's last `server.install` event; null when none runs. */
  install?: InstallEvent | null;
  /** The open sign-in prompt (the install's, or the running server's); null when none. */
  prompt?: Prompt | null;
}

export interface ImportReport {
  format: string;
  source_name: string;
  unmapped: string[];
  notes: string[];
  requires_docker: boolean;
}

export interface ImportResult {
  template: Template;
  format: 'toml' | 'json' | 'egg';
  report: ImportReport | null;
  saved: boolean;
}

export interface TemplateRepo {
  id: string;
  location: string;
  kind: string;
  added_at: number;
  synced_at: number | null;
  sync_error: string | null;
  template_count: number;
}

export interface RepoSyncResult {
  repo: TemplateRepo | null;
  sync: { imported: string[]; skipped: [string, string][] } | null;
  error?: string;
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

// ---- Schedules ----

export type CronTrigger = { kind: 'cron'; expression: string; timezone: string };
export type IntervalTrigger = { kind: 'interval'; secs: number };
export type ScheduleTrigger = CronTrigger | IntervalTrigger;
export type MissedPolicy = 'skip' | 'run_once';
export type TaskAction = 'power' | 'command' | 'backup' | 'wait_for' | 'delay';
export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'skipped' | 'interrupted';
export type RunCause = 'scheduled' | 'manual' | 'catch_up';
export type TaskOutcomeState = 'succeeded' | 'failed' | 'skipped';

/** One step of a schedule's chain: only the fields its action takes. */
export interface ScheduleTask {
  action: TaskAction;
  power?: PowerAction;
  command?: string;
  name?: string;
  ignore?: string[];
  locked?: boolean;
  state?: ServerState;
  console?: string;
  secs?: number;
  continue_on_failure?: boolean;
  timeout_secs?: number;
}

export interface Schedule {
  id: string;
  server_id: string | null;
  name: string;
  trigger: ScheduleTrigger;
  enabled: boolean;
  only_when_online: boolean;
  missed: MissedPolicy;
  tasks: ScheduleTask[];
  next_run_at: number | null;
  last_run_at: number | null;
  last_outcome: RunOutcome | null;
  running: boolean;
  description: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  targets?: { all: boolean; servers: string[] };
}

/** What POST (all of it) and PATCH (any part) take. */
export interface ScheduleBody {
  name: string;
  trigger: ScheduleTrigger;
  enabled: boolean;
  only_when_online: boolean;
  missed: MissedPolicy;
  tasks: ScheduleTask[];
}

export interface TaskOutcome {
  index: number;
  action: TaskAction;
  server: string;
  state: TaskOutcomeState;
  started_at: number;
  finished_at: number;
  output?: string;
  error?: string;
}

export interface ScheduleRun {
  id: string;
  schedule_id: string;
  due_at: number | null;
  cause: RunCause;
  state: RunOutcome;
  started_at: number;
  finished_at: number | null;
  error: string | null;
  tasks: TaskOutcome[];
}

export interface RunPage {
  runs: ScheduleRun[];
  next: number | null;
}

export interface SchedulePreview {
  description: string;
  next: { at: number; utc: string }[];
}

/** `schedule.run` on the server's socket. */
export interface ScheduleEvent {
  server: string;
  schedule: string;
  run: string;
  name: string;
  phase: 'started' | 'succeeded' | 'failed' | 'skipped';
  error?: string;
  at: number;
}
