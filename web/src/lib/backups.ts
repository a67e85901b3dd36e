// The Backups tab's logic: the API's shapes, the list folded from `server.backup`
// events, the restore as the page shows it, the limits line, short checksums, the
// restore request and the messages for backup errors. Pure, so it can be tested.

import { ApiError } from './api';
import { actionError } from './errors';
import { formatBytes } from './format';

export type BackupState = 'creating' | 'ready' | 'failed' | 'cancelled';
export type StorageKind = 'local' | 's3';
export type CompressionKind = 'zstd' | 'gzip';
export type Integrity = 'ok' | 'missing' | 'corrupt';

export interface BackupProgress {
  bytes: number;
  files: number;
  total_bytes: number | null;
  percent: number | null;
}

export interface Backup {
  id: string;
  server_id: string;
  name: string;
  state: BackupState;
  storage: StorageKind;
  compression: CompressionKind;
  size: number | null;
  sha256: string | null;
  files: number | null;
  bytes: number | null;
  ignore: string[];
  locked: boolean;
  integrity: Integrity | null;
  verified_at: number | null;
  error: string | null;
  created_at: number;
  completed_at: number | null;
  created_by: string | null;
  progress: BackupProgress | null;
}

export interface BackupLimits {
  max_count: number | null;
  max_bytes: number | null;
  count: number;
  bytes: number;
}

export interface BackupList {
  backups: Backup[];
  limits: BackupLimits;
}

export interface ManifestEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  mtime: number;
  sha256?: string;
  target?: string;
}

export interface Manifest {
  entries: ManifestEntry[];
}

export type RestoreState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** The server's last restore (`restore` on the server object). */
export interface RestoreStatus {
  backup: string;
  state: RestoreState;
  started_at: number;
  finished_at: number | null;
  error: string | null;
}

export interface VerifyResult {
  integrity: Integrity;
  problem: string | null;
  entries: number;
  backup: Backup;
}

export type BackupOp = 'create' | 'restore';
export type BackupStage = 'started' | 'progress' | 'finished' | 'failed' | 'cancelled';

/** `server.backup` */
export interface BackupEvent {
  server: string;
  backup: string;
  op: BackupOp;
  stage: BackupStage;
  storage?: StorageKind;
  bytes?: number;
  files?: number;
  total_bytes?: number | null;
  percent?: number | null;
  result?: {
    storage: StorageKind;
    compression: CompressionKind;
    digest: { size: number; sha256: string; manifest_sha256: string };
    files: number;
    bytes: number;
  } | null;
  error?: string | null;
  integrity?: Integrity | null;
}

export const isEnd = (stage: BackupStage) => stage === 'finished' || stage === 'failed' || stage === 'cancelled';

// ---- What the caller may do ----

export interface BackupAbilities {
  read: boolean;
  create: boolean;
  /** Delete, and lock/unlock. */
  delete: boolean;
  download: boolean;
  restore: boolean;
}

export function backupAbilities(permissions: readonly string[] | null | undefined): BackupAbilities {
  const has = (p: string) => !!permissions?.includes(p);
  return {
    read: has('backup.read'),
    create: has('backup.create'),
    delete: has('backup.delete'),
    download: has('backup.download'),
    restore: has('backup.restore'),
  };
}

// ---- URLs ----

/** `/servers/{id}/backups[/{backup}][/route]`, for `api`. */
export function backupsApi(serverId: string, backup?: string, route = ''): string {
  const base = `/servers/${encodeURIComponent(serverId)}/backups`;
  return backup === undefined ? base : `${base}/${encodeURIComponent(backup)}${route}`;
}

/** Where the browser downloads the archive from (a plain link: it streams). */
export function backupDownloadUrl(serverId: string, backup: string): string {
  return `/api${backupsApi(serverId, backup, '/download')}`;
}

// ---- The list ----

/** Newest first; ties (same millisecond) by id, which is time-ordered too. */
export function sortBackups(list: Backup[]): Backup[] {
  return [...list].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** The list with `b` in it (replacing the row with its id), newest first. */
export function upsertBackup(list: Backup[], b: Backup): Backup[] {
  return sortBackups([...list.filter((x) => x.id !== b.id), b]);
}

export function removeBackup(list: Backup[], id: string): Backup[] {
  return list.filter((x) => x.id !== id);
}

const num = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** 0..100, from the percent given or else bytes of total; null when unknown. */
export function progressPercent(p: Pick<BackupProgress, 'bytes' | 'total_bytes' | 'percent'> | null | undefined): number | null {
  if (!p) return null;
  const pct = num(p.percent);
  if (pct !== null) return Math.max(0, Math.min(100, pct));
  const total = num(p.total_bytes);
  if (total && total > 0) return Math.max(0, Math.min(100, (p.bytes / total) * 100));
  return null;
}

/** "45 % · 12 MiB of 27 MiB · 120 files"; "Starting…" before anything moved. */
export function progressText(p: BackupProgress | null | undefined): string {
  if (!p) return 'Starting…';
  const parts: string[] = [];
  const pct = progressPercent(p);
  if (pct !== null) parts.push(`${Math.floor(pct)} %`);
  parts.push(p.total_bytes ? `${formatBytes(p.bytes)} of ${formatBytes(p.total_bytes)}` : formatBytes(p.bytes));
  parts.push(plural(p.files, 'file'));
  return parts.join(' · ');
}

const progressOf = (ev: BackupEvent, prev: BackupProgress | null): BackupProgress => ({
  bytes: num(ev.bytes) ?? prev?.bytes ?? 0,
  files: num(ev.files) ?? prev?.files ?? 0,
  total_bytes: num(ev.total_bytes) ?? prev?.total_bytes ?? null,
  percent: num(ev.percent),
});

export interface FoldResult {
  backups: Backup[];
  /** The list should be fetched again: the backup ended, or is one the page does not know. */
  refetch: boolean;
}

/**
 * The list after one `server.backup` event of a create: progress on its row, and the
 * outcome when it ends (the list is fetched again then for what only the API knows:
 * its completion time, the limits). Restore events leave the list as it is.
 */
export function foldBackupEvent(list: Backup[], ev: BackupEvent): FoldResult {
  if (ev.op !== 'create') return { backups: list, refetch: false };
  const row = list.find((b) => b.id === ev.backup);
  if (!row) return { backups: list, refetch: true };
  let next: Backup;
  switch (ev.stage) {
    case 'started':
      next = { ...row, state: 'creating', storage: ev.storage ?? row.storage, error: null, progress: row.progress ?? null };
      break;
    case 'progress':
      // A late progress frame never reopens a backup that ended.
      if (row.state !== 'creating') return { backups: list, refetch: false };
      next = { ...row, progress: progressOf(ev, row.progress) };
      break;
    case 'finished': {
      const r = ev.result;
      next = {
        ...row,
        state: 'ready',
        progress: null,
        error: null,
        storage: r?.storage ?? row.storage,
        compression: r?.compression ?? row.compression,
        size: r?.digest.size ?? row.size,
        sha256: r?.digest.sha256 ?? row.sha256,
        files: r?.files ?? row.files,
        bytes: r?.bytes ?? row.bytes,
      };
      break;
    }
    case 'failed':
      next = { ...row, state: 'failed', progress: null, error: ev.error || 'The backup failed' };
      break;
    case 'cancelled':
      next = { ...row, state: 'cancelled', progress: null };
      break;
    default:
      return { backups: list, refetch: false };
  }
  return { backups: list.map((b) => (b.id === row.id ? next : b)), refetch: isEnd(ev.stage) };
}

// ---- Limits, checksums, names ----

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** "3 of 5 backups, 1.2 GiB of 10 GiB"; a limit that is null is "no limit". */
export function limitsText(l: BackupLimits): string {
  const count = l.max_count != null ? `${l.count.toLocaleString('en-US')} of ${plural(l.max_count, 'backup')}` : `${plural(l.count, 'backup')} (no limit)`;
  const bytes = l.max_bytes != null ? `${formatBytes(l.bytes)} of ${formatBytes(l.max_bytes)}` : `${formatBytes(l.bytes)} (no limit)`;
  return `${count}, ${bytes}`;
}

/** Which limit a new backup would meet: the count one can be told ahead; the size one only roughly. */
export function limitReached(l: BackupLimits | null | undefined): 'count' | 'bytes' | null {
  if (!l) return null;
  if (l.max_count != null && l.count >= l.max_count) return 'count';
  if (l.max_bytes != null && l.bytes >= l.max_bytes) return 'bytes';
  return null;
}

/** The first 12 hex digits of a SHA-256 (what the list shows; the whole one on hover and copy). */
export function shortChecksum(sha256: string | null | undefined): string {
  if (!sha256) return '—';
  return sha256.slice(0, 12);
}

/** A backup without a name is called by its time. */
export function backupLabel(b: Pick<Backup, 'name' | 'created_at'>): string {
  return b.name.trim() || `Backup of ${new Date(b.created_at).toLocaleString()}`;
}

/** "Archive is missing" / "Archive is damaged" for an integrity badge; null when fine or unchecked. */
export function integrityProblem(b: Pick<Backup, 'integrity'>): string | null {
  if (b.integrity === 'missing') return 'Archive missing';
  if (b.integrity === 'corrupt') return 'Archive damaged';
  return null;
}

/** Why a backup cannot be deleted now, or null when it can. */
export function deleteBlocker(b: Pick<Backup, 'locked' | 'state'>): string | null {
  if (b.locked) return 'Locked: unlock it first to delete it';
  if (b.state === 'creating') return 'Still being made: cancel it first';
  return null;
}

/** Why a backup cannot be restored (or downloaded or verified), or null. */
export function notRestorable(b: Pick<Backup, 'state' | 'integrity'>): string | null {
  if (b.state !== 'ready') return b.state === 'creating' ? 'Not finished yet' : 'This backup did not complete';
  if (b.integrity === 'missing') return 'The archive is missing from storage';
  if (b.integrity === 'corrupt') return 'The archive is damaged';
  return null;
}

// ---- Create ----

/**
 * The ignore list from the textarea: one gitignore pattern per line; blank lines and
 * `#` comments dropped, trailing spaces trimmed (as git does).
 */
export function parseIgnore(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

export interface CreateBody {
  name?: string;
  ignore?: string[];
  locked?: boolean;
  /** At the limit: remove the oldest unlocked backup once this one succeeds. */
  rotate?: boolean;
}

/** What to POST for a new backup: only what was given. */
export function createRequest(form: { name: string; ignore: string; locked: boolean; rotate?: boolean }): CreateBody {
  const body: CreateBody = {};
  const name = form.name.trim();
  if (name) body.name = name;
  const ignore = parseIgnore(form.ignore);
  if (ignore.length) body.ignore = ignore;
  if (form.locked) body.locked = true;
  if (form.rotate) body.rotate = true;
  return body;
}

/** The create form's field an API error names (`ignore`, `ignore[2]`, `ignore.2` → `ignore`). */
export function createField(field: string | undefined): string | undefined {
  if (!field) return undefined;
  if (field === 'ignore' || field.startsWith('ignore[') || field.startsWith('ignore.')) return 'ignore';
  return field;
}

// ---- Restore ----

/** One top-level file or folder of a backup, to pick for a partial restore. */
export interface TopEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  /** Bytes of file contents within. */
  size: number;
  /** Entries within (a folder's files, folders and links; 0 for a file). */
  entries: number;
}

/**
 * The backup's top-level entries, folders first then by name, with what they hold.
 * A folder that only appears as a prefix (`world/level.dat` without `world`) counts too.
 */
export function topLevelEntries(entries: ManifestEntry[]): TopEntry[] {
  const top = new Map<string, TopEntry>();
  for (const e of entries) {
    const path = e.path.replace(/^\/+|\/+$/g, '');
    if (!path || path === '.') continue;
    const slash = path.indexOf('/');
    const name = slash < 0 ? path : path.slice(0, slash);
    let t = top.get(name);
    if (!t) {
      t = { path: name, kind: slash < 0 ? e.kind : 'dir', size: 0, entries: 0 };
      top.set(name, t);
    }
    if (slash < 0) {
      t.kind = e.kind;
      if (e.kind !== 'dir') t.size += e.size;
    } else {
      t.kind = 'dir';
      t.entries++;
      if (e.kind === 'file') t.size += e.size;
    }
  }
  return [...top.values()].sort((a, b) => {
    if ((a.kind === 'dir') !== (b.kind === 'dir')) return a.kind === 'dir' ? -1 : 1;
    return a.path.localeCompare(b.path, 'en', { numeric: true, sensitivity: 'base' });
  });
}

/** Entries whose name holds `query` (any case); all for an empty query. */
export function filterEntries(entries: TopEntry[], query: string): TopEntry[] {
  const q = query.trim().toLowerCase();
  return q ? entries.filter((e) => e.path.toLowerCase().includes(q)) : entries;
}

export interface RestoreForm {
  deleteExtra: boolean;
  /** Restore only the paths chosen (else everything). */
  partial: boolean;
  paths: Iterable<string>;
}

export interface RestoreBody {
  delete_extra?: boolean;
  paths?: string[];
}

/** Why the restore cannot be sent as it stands, or null. */
export function restoreProblem(form: RestoreForm): string | null {
  if (form.partial && [...form.paths].length === 0) return 'Choose at least one file or folder, or restore everything';
  return null;
}

/** What to POST for a restore: `paths` sorted and without duplicates, only when partial. */
export function restoreRequest(form: RestoreForm): RestoreBody {
  const body: RestoreBody = {};
  if (form.deleteExtra) body.delete_extra = true;
  if (form.partial) body.paths = [...new Set(form.paths)].sort();
  return body;
}

/** What the restore will do, in words, for the confirmation. */
export function restoreSummary(form: RestoreForm): string {
  const paths = form.partial ? [...new Set(form.paths)] : [];
  const what = form.partial ? (paths.length === 1 ? `/${paths[0]}` : `${paths.length} chosen files and folders`) : "the server's files";
  const extra = form.deleteExtra
    ? form.partial
      ? ' Files within them that are not in the backup are deleted.'
      : ' Files that are not in the backup are deleted.'
    : ' Files that are not in the backup are kept.';
  return `The backup's copy replaces ${what}.${extra}`;
}

/** A restore as the page shows it. */
export interface RestoreView {
  active: boolean;
  backup: string | null;
  bytes: number | null;
  files: number | null;
  totalBytes: number | null;
  percent: number | null;
  outcome: 'succeeded' | 'failed' | 'cancelled' | null;
  error: string | null;
  finishedAt: number | null;
}

export const idleRestore = (): RestoreView => ({
  active: false,
  backup: null,
  bytes: null,
  files: null,
  totalBytes: null,
  percent: null,
  outcome: null,
  error: null,
  finishedAt: null,
});

const runningRestore = (backup: string): RestoreView => ({ ...idleRestore(), active: true, backup });

/** The view after one `server.backup` event of a restore (create events leave it). */
export function reduceRestore(v: RestoreView, ev: BackupEvent, now = Date.now()): RestoreView {
  if (ev.op !== 'restore') return v;
  switch (ev.stage) {
    case 'started':
      return runningRestore(ev.backup);
    case 'progress': {
      const base = v.active && v.backup === ev.backup ? v : runningRestore(ev.backup);
      const p = progressOf(ev, base.bytes === null ? null : { bytes: base.bytes, files: base.files ?? 0, total_bytes: base.totalBytes, percent: base.percent });
      return { ...base, bytes: p.bytes, files: p.files, totalBytes: p.total_bytes, percent: progressPercent(p) };
    }
    case 'finished':
      return { ...v, active: false, backup: ev.backup, percent: null, outcome: 'succeeded', error: null, finishedAt: now };
    case 'failed':
      return { ...v, active: false, backup: ev.backup, percent: null, outcome: 'failed', error: ev.error || 'The restore failed', finishedAt: now };
    case 'cancelled':
      return { ...v, active: false, backup: ev.backup, percent: null, outcome: 'cancelled', error: null, finishedAt: now };
    default:
      return v;
  }
}

/**
 * The view from the server's stored `restore` status (on load, and after an end the
 * page watched, whose stored error is the authority). A running restore keeps the
 * progress it has; one that ended shows how.
 */
export function restoreFromStatus(v: RestoreView, status: RestoreStatus | null | undefined): RestoreView {
  if (!status) return v.active ? { ...v, active: false } : v;
  if (status.state === 'running') return v.active && v.backup === status.backup ? v : runningRestore(status.backup);
  return {
    ...v,
    active: false,
    backup: status.backup,
    percent: null,
    outcome: status.state,
    error: status.state === 'failed' ? status.error || v.error || 'The restore failed' : null,
    finishedAt: status.finished_at ?? v.finishedAt,
  };
}

/** "45 % · 12 MiB of 27 MiB · 120 files", or null before anything moved. */
export function restoreProgressText(v: RestoreView): string | null {
  if (v.bytes === null) return null;
  return progressText({ bytes: v.bytes, files: v.files ?? 0, total_bytes: v.totalBytes, percent: v.percent });
}

// ---- Errors ----

/** The message for a failed backup action: the API's codes in words, else its message. */
export function backupError(err: unknown): string {
  if (!(err instanceof ApiError)) return actionError(err);
  switch (err.code) {
    case 'backup_locked':
      return 'This backup is locked: unlock it first to delete it.';
    case 'backup_in_progress':
      return 'Another backup or restore of this server is running: wait until it ends, or cancel it.';
    case 'backup_limit_reached':
      return `${trimDot(err.message)}. Delete an old backup (unlocked) to make room.`;
    case 'rate_limited':
      return err.retryAfter != null
        ? `Too many backups in a short time: try again in ${formatWait(err.retryAfter)}.`
        : 'Too many backups in a short time: try again in a moment.';
    case 'conflict':
      return err.state
        ? `The server must be stopped first (it is ${err.state}).`
        : actionError(err);
    case 'backup_missing':
      return "The backup's archive is missing from storage: it cannot be used.";
    case 'backup_corrupt':
      return "The backup's archive is damaged (it differs from its checksum): nothing was changed.";
    case 'quota_exceeded':
      return "Restoring would take the server over its disk limit: nothing was changed. Free some space or restore fewer paths.";
    case 'invalid_path':
      return err.path ? `${trimDot(err.message)} (${err.path}).` : actionError(err);
    case 'backup_not_running':
      return 'It is not running any more.';
    case 'backup_not_ready':
      return 'This backup is not ready: it is still being made, or it did not complete.';
    case 'backup_storage':
      return 'The backup storage failed. Try again later, or ask the administrator to check it.';
    default:
      return actionError(err);
  }
}

const trimDot = (s: string) => s.replace(/[.\s]+$/, '');

/** 75 → "1 min 15 s"; 5 → "5 s". */
export function formatWait(secs: number): string {
  const s = Math.max(1, Math.ceil(secs));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}
