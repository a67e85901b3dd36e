import { describe, expect, it } from 'vitest';
import { toApiError } from './api';
import {
  backupAbilities,
  backupDownloadUrl,
  backupError,
  backupLabel,
  backupsApi,
  createField,
  createRequest,
  deleteBlocker,
  filterEntries,
  foldBackupEvent,
  formatWait,
  idleRestore,
  integrityProblem,
  limitReached,
  limitsText,
  notRestorable,
  parseIgnore,
  progressPercent,
  progressText,
  reduceRestore,
  restoreFromStatus,
  restoreProblem,
  restoreProgressText,
  restoreRequest,
  restoreSummary,
  shortChecksum,
  sortBackups,
  topLevelEntries,
  upsertBackup,
  type Backup,
  type BackupEvent,
  type ManifestEntry,
  type RestoreView,
} from './backups';

const GiB = 1024 ** 3;
const SHA = 'ab12cd34ef56'.padEnd(64, '0');

function backup(more: Partial<Backup> = {}): Backup {
  return {
    id: 'b1',
    server_id: 's1',
    name: 'Before update',
    state: 'ready',
    storage: 'local',
    compression: 'zstd',
    size: 1234,
    sha256: SHA,
    files: 3,
    bytes: 5000,
    ignore: [],
    locked: false,
    integrity: null,
    verified_at: null,
    error: null,
    created_at: 1_000,
    completed_at: 2_000,
    created_by: 'u1',
    progress: null,
    ...more,
  };
}

const ev = (stage: BackupEvent['stage'], more: Partial<BackupEvent> = {}): BackupEvent => ({
  server: 's1',
  backup: 'b1',
  op: 'create',
  stage,
  ...more,
});

describe('the list', () => {
  it('is newest first, ties by id', () => {
    const list = sortBackups([backup({ id: 'a', created_at: 1 }), backup({ id: 'c', created_at: 5 }), backup({ id: 'b', created_at: 5 })]);
    expect(list.map((b) => b.id)).toEqual(['c', 'b', 'a']);
  });

  it('replaces a row by id and keeps the order', () => {
    let list = [backup({ id: 'a', created_at: 1 })];
    list = upsertBackup(list, backup({ id: 'b', created_at: 2, state: 'creating' }));
    list = upsertBackup(list, backup({ id: 'a', created_at: 1, locked: true }));
    expect(list.map((b) => [b.id, b.locked])).toEqual([
      ['b', false],
      ['a', true],
    ]);
  });

  it('builds the API paths and the download link', () => {
    expect(backupsApi('s 1')).toBe('/servers/s%201/backups');
    expect(backupsApi('s1', 'b/1', '/restore')).toBe('/servers/s1/backups/b%2F1/restore');
    expect(backupDownloadUrl('s1', 'b1')).toBe('/api/servers/s1/backups/b1/download');
  });

  it('reads the permissions', () => {
    expect(backupAbilities(['backup.read', 'backup.download'])).toEqual({ read: true, create: false, delete: false, download: true, restore: false });
    expect(backupAbilities(undefined).read).toBe(false);
  });
});

describe('create events', () => {
  const creating = backup({ state: 'creating', size: null, sha256: null, files: null, bytes: null, completed_at: null });

  it('shows progress on the row and ends ready with size and checksum', () => {
    let r = foldBackupEvent([creating], ev('started', { storage: 's3' }));
    expect(r.refetch).toBe(false);
    expect(r.backups[0].storage).toBe('s3');
    r = foldBackupEvent(r.backups, ev('progress', { bytes: 512, files: 2, total_bytes: 2048 }));
    expect(r.backups[0].progress).toEqual({ bytes: 512, files: 2, total_bytes: 2048, percent: null });
    expect(progressPercent(r.backups[0].progress)).toBe(25);
    expect(progressText(r.backups[0].progress)).toBe('25 % · 512 B of 2.0 KiB · 2 files');
    r = foldBackupEvent(r.backups, ev('progress', { bytes: 1024, files: 1, percent: 60 }));
    // total_bytes is kept when a frame leaves it out; the given percent wins.
    expect(r.backups[0].progress).toEqual({ bytes: 1024, files: 1, total_bytes: 2048, percent: 60 });
    r = foldBackupEvent(r.backups, {
      ...ev('finished'),
      result: { storage: 's3', compression: 'gzip', digest: { size: 999, sha256: SHA, manifest_sha256: 'm' }, files: 4, bytes: 4096 },
    });
    expect(r.refetch).toBe(true);
    expect(r.backups[0]).toMatchObject({ state: 'ready', size: 999, sha256: SHA, files: 4, bytes: 4096, compression: 'gzip', progress: null });
  });

  it('marks failed with the error, and cancelled', () => {
    let r = foldBackupEvent([creating], ev('failed', { error: 'disk full' }));
    expect(r.backups[0]).toMatchObject({ state: 'failed', error: 'disk full', progress: null });
    expect(r.refetch).toBe(true);
    r = foldBackupEvent([creating], ev('failed'));
    expect(r.backups[0].error).toBe('The backup failed');
    r = foldBackupEvent([creating], ev('cancelled'));
    expect(r.backups[0].state).toBe('cancelled');
  });

  it('a late progress frame does not reopen an ended backup', () => {
    const done = backup();
    const r = foldBackupEvent([done], ev('progress', { bytes: 5, files: 1 }));
    expect(r.backups[0]).toBe(done);
  });

  it('asks for the list when the backup is not known, and ignores restores', () => {
    expect(foldBackupEvent([], ev('started')).refetch).toBe(true);
    const list = [creating];
    const r = foldBackupEvent(list, ev('progress', { op: 'restore', bytes: 5 }));
    expect(r).toEqual({ backups: list, refetch: false });
  });
});

describe('limits, checksums and words', () => {
  it('says the limits', () => {
    expect(limitsText({ count: 3, max_count: 5, bytes: 1.2 * GiB, max_bytes: 10 * GiB })).toBe('3 of 5 backups, 1.2 GiB of 10 GiB');
    expect(limitsText({ count: 1, max_count: null, bytes: 0, max_bytes: null })).toBe('1 backup (no limit), 0 B (no limit)');
    expect(limitsText({ count: 0, max_count: 1, bytes: 10, max_bytes: null })).toBe('0 of 1 backup, 10 B (no limit)');
  });

  it('tells when a limit is reached', () => {
    expect(limitReached({ count: 5, max_count: 5, bytes: 0, max_bytes: null })).toBe('count');
    expect(limitReached({ count: 1, max_count: 5, bytes: 10, max_bytes: 10 })).toBe('bytes');
    expect(limitReached({ count: 1, max_count: null, bytes: 10, max_bytes: null })).toBeNull();
    expect(limitReached(null)).toBeNull();
  });

  it('shortens the checksum to 12 hex digits', () => {
    expect(shortChecksum(SHA)).toBe('ab12cd34ef56');
    expect(shortChecksum(null)).toBe('—');
  });

  it('names unnamed backups by their time', () => {
    expect(backupLabel({ name: 'x', created_at: 0 })).toBe('x');
    expect(backupLabel({ name: ' ', created_at: 0 })).toMatch(/^Backup of /);
  });

  it('says what blocks delete and restore', () => {
    expect(deleteBlocker(backup({ locked: true }))).toMatch(/unlock/);
    expect(deleteBlocker(backup({ state: 'creating' }))).toMatch(/cancel/);
    expect(deleteBlocker(backup())).toBeNull();
    expect(deleteBlocker(backup({ state: 'failed' }))).toBeNull();
    expect(notRestorable(backup())).toBeNull();
    expect(notRestorable(backup({ integrity: 'corrupt' }))).toMatch(/damaged/);
    expect(notRestorable(backup({ integrity: 'missing' }))).toMatch(/missing/);
    expect(notRestorable(backup({ state: 'failed' }))).toMatch(/did not complete/);
    expect(integrityProblem(backup({ integrity: 'ok' }))).toBeNull();
    expect(integrityProblem(backup({ integrity: 'corrupt' }))).toBe('Archive damaged');
  });
});

describe('create request', () => {
  it('parses the ignore list: one pattern a line, no blanks or comments', () => {
    expect(parseIgnore('*.log\r\n\n  \n# comment\ncache/   \n!keep.log')).toEqual(['*.log', 'cache/', '!keep.log']);
  });

  it('sends only what was given', () => {
    expect(createRequest({ name: '  ', ignore: '', locked: false })).toEqual({});
    expect(createRequest({ name: ' Before update ', ignore: '*.log\n', locked: true })).toEqual({ name: 'Before update', ignore: ['*.log'], locked: true });
    expect(createRequest({ name: '', ignore: '', locked: false, rotate: true })).toEqual({ rotate: true });
  });

  it('maps the ignore list errors onto its field', () => {
    expect(createField('ignore[2]')).toBe('ignore');
    expect(createField('ignore.0')).toBe('ignore');
    expect(createField('ignore')).toBe('ignore');
    expect(createField('name')).toBe('name');
    expect(createField(undefined)).toBeUndefined();
  });
});

describe('restore request', () => {
  const m = (path: string, kind: ManifestEntry['kind'] = 'file', size = 10): ManifestEntry => ({ path, kind, size, mode: 0o644, mtime: 0 });

  it('lists the top-level entries, folders first, with what they hold', () => {
    const top = topLevelEntries([m('world', 'dir', 0), m('world/level.dat', 'file', 100), m('world/region', 'dir', 0), m('world/region/r.0.mca', 'file', 50), m('server.properties', 'file', 7), m('logs/latest.log', 'file', 3), m('link', 'symlink', 4)]);
    expect(top).toEqual([
      { path: 'logs', kind: 'dir', size: 3, entries: 1 },
      { path: 'world', kind: 'dir', size: 150, entries: 3 },
      { path: 'link', kind: 'symlink', size: 4, entries: 0 },
      { path: 'server.properties', kind: 'file', size: 7, entries: 0 },
    ]);
    expect(filterEntries(top, 'WOR').map((e) => e.path)).toEqual(['world']);
    expect(filterEntries(top, ' ')).toHaveLength(4);
  });

  it('builds the body', () => {
    expect(restoreRequest({ deleteExtra: false, partial: false, paths: ['x'] })).toEqual({});
    expect(restoreRequest({ deleteExtra: true, partial: false, paths: [] })).toEqual({ delete_extra: true });
    expect(restoreRequest({ deleteExtra: false, partial: true, paths: ['world', 'a.txt', 'world'] })).toEqual({ paths: ['a.txt', 'world'] });
  });

  it('refuses a partial restore of nothing', () => {
    expect(restoreProblem({ deleteExtra: false, partial: true, paths: [] })).toMatch(/at least one/);
    expect(restoreProblem({ deleteExtra: false, partial: false, paths: [] })).toBeNull();
  });

  it('says what will happen', () => {
    expect(restoreSummary({ deleteExtra: false, partial: false, paths: [] })).toBe("The backup's copy replaces the server's files. Files that are not in the backup are kept.");
    expect(restoreSummary({ deleteExtra: true, partial: true, paths: ['world'] })).toBe("The backup's copy replaces /world. Files within them that are not in the backup are deleted.");
    expect(restoreSummary({ deleteExtra: true, partial: true, paths: ['a', 'b'] })).toMatch(/2 chosen files and folders/);
  });
});

describe('restore view', () => {
  const rev = (stage: BackupEvent['stage'], more: Partial<BackupEvent> = {}) => ev(stage, { op: 'restore', ...more });
  const fold = (events: BackupEvent[], from: RestoreView = idleRestore()) => events.reduce((v, e) => reduceRestore(v, e, 42), from);

  it('follows progress and ends', () => {
    let v = fold([rev('started')]);
    expect(v).toMatchObject({ active: true, backup: 'b1' });
    expect(restoreProgressText(v)).toBeNull();
    v = fold([rev('progress', { bytes: 100, files: 1, total_bytes: 400 })], v);
    expect(v.percent).toBe(25);
    expect(restoreProgressText(v)).toBe('25 % · 100 B of 400 B · 1 file');
    v = fold([rev('finished')], v);
    expect(v).toMatchObject({ active: false, outcome: 'succeeded', finishedAt: 42 });
    v = fold([rev('started'), rev('failed', { error: 'archive damaged' })]);
    expect(v).toMatchObject({ outcome: 'failed', error: 'archive damaged' });
    v = fold([rev('started'), rev('cancelled')]);
    expect(v.outcome).toBe('cancelled');
  });

  it('a progress frame mid-way (page opened late) starts the view', () => {
    const v = fold([rev('progress', { bytes: 10, files: 1 })]);
    expect(v).toMatchObject({ active: true, bytes: 10, percent: null });
  });

  it('ignores create events', () => {
    const v = idleRestore();
    expect(reduceRestore(v, ev('started'))).toBe(v);
  });

  it('takes the stored status', () => {
    let v = restoreFromStatus(idleRestore(), { backup: 'b1', state: 'running', started_at: 1, finished_at: null, error: null });
    expect(v.active).toBe(true);
    // A running one keeps its progress.
    const moving = fold([rev('progress', { bytes: 10, files: 1 })], v);
    expect(restoreFromStatus(moving, { backup: 'b1', state: 'running', started_at: 1, finished_at: null, error: null })).toBe(moving);
    v = restoreFromStatus(moving, { backup: 'b1', state: 'failed', started_at: 1, finished_at: 9, error: 'checksum differs' });
    expect(v).toMatchObject({ active: false, outcome: 'failed', error: 'checksum differs', finishedAt: 9 });
    v = restoreFromStatus(v, { backup: 'b1', state: 'succeeded', started_at: 1, finished_at: 10, error: null });
    expect(v).toMatchObject({ outcome: 'succeeded', error: null });
    expect(restoreFromStatus(idleRestore(), null)).toEqual(idleRestore());
    expect(restoreFromStatus(moving, null).active).toBe(false);
  });
});

describe('backup errors', () => {
  const err = (status: number, error: Record<string, unknown>) => toApiError(status, { error: { message: 'm', ...error } });

  it('says each code in words', () => {
    expect(backupError(err(409, { code: 'backup_locked' }))).toMatch(/locked: unlock it/);
    expect(backupError(err(409, { code: 'backup_in_progress' }))).toMatch(/is running/);
    expect(backupError(err(409, { code: 'backup_limit_reached', message: 'this server has 5 of 5 backups.' }))).toBe(
      'this server has 5 of 5 backups. Delete an old backup (unlocked) to make room.',
    );
    expect(backupError(err(429, { code: 'rate_limited', retry_after: 75 }))).toBe('Too many backups in a short time: try again in 1 min 15 s.');
    expect(backupError(err(429, { code: 'rate_limited' }))).toMatch(/in a moment/);
    expect(backupError(err(409, { code: 'conflict', state: 'running' }))).toBe('The server must be stopped first (it is running).');
    expect(backupError(err(404, { code: 'backup_missing' }))).toMatch(/missing/);
    expect(backupError(err(409, { code: 'backup_not_ready' }))).toMatch(/not ready/);
    expect(backupError(err(422, { code: 'backup_corrupt' }))).toMatch(/damaged/);
    expect(backupError(err(413, { code: 'quota_exceeded' }))).toMatch(/disk limit/);
    expect(backupError(err(422, { code: 'invalid_path', message: 'not in the backup', path: 'nope' }))).toBe('not in the backup (nope).');
  });

  it('keeps the message of other errors', () => {
    expect(backupError(err(403, { code: 'forbidden', message: 'not allowed' }))).toBe('not allowed');
    expect(backupError(new Error('boom'))).toBe('boom');
    expect(backupError(toApiError(0, null))).toMatch(/cannot be reached/);
  });

  it('formats waits', () => {
    expect(formatWait(0.2)).toBe('1 s');
    expect(formatWait(59)).toBe('59 s');
    expect(formatWait(120)).toBe('2 min');
  });
});
