import { describe, expect, it, vi } from 'vitest';
import {
  allSelected,
  archiveName,
  archiveStem,
  baseName,
  breadcrumbs,
  clampPage,
  clickSelect,
  compareEntries,
  debounce,
  downloadUrl,
  emptySelection,
  extension,
  fileAbilities,
  filesHref,
  filesSearch,
  formatMode,
  isArchive,
  isWithin,
  joinPath,
  listQuery,
  modeString,
  nameProblem,
  nextChunk,
  nextSort,
  normalizePath,
  pageInfo,
  pageLabel,
  parentPath,
  parseFilesLocation,
  parseMode,
  planChunks,
  pruneSelection,
  resolvePath,
  retryable,
  someSelected,
  sortEntries,
  summarizePaths,
  toggleAll,
  touchesDir,
  touchesFile,
  uploadPercent,
  usagePercent,
  CHUNK_SIZE,
  type FileEntry,
  type Selection,
} from './files';

const entry = (name: string, kind: FileEntry['kind'] = 'file', size = 0, modified = 0): FileEntry => ({
  name,
  path: name,
  kind,
  size,
  mode: 0o644,
  modified,
});

describe('file abilities', () => {
  it('follow the permissions, copy needing both create and read-content', () => {
    expect(fileAbilities(undefined)).toEqual({
      list: false, read: false, create: false, update: false, delete: false, archive: false, copy: false, select: false, sftp: false,
    });
    const listOnly = fileAbilities(['server.read', 'file.read']);
    expect(listOnly.list).toBe(true);
    expect(listOnly.select).toBe(false); // nothing to do with a selection
    expect(fileAbilities(['file.read', 'file.create']).copy).toBe(false);
    expect(fileAbilities(['file.read', 'file.create', 'file.read-content']).copy).toBe(true);
    for (const p of ['file.read-content', 'file.update', 'file.delete', 'file.archive']) {
      expect(fileAbilities(['file.read', p]).select).toBe(true);
    }
    expect(fileAbilities(['file.sftp']).sftp).toBe(true);
  });
});

describe('paths', () => {
  it('normalizes to the API form', () => {
    expect(normalizePath('')).toBe('');
    expect(normalizePath('/')).toBe('');
    expect(normalizePath('/a//b/./c/')).toBe('a/b/c');
    expect(normalizePath('a/../b')).toBe('a/../b'); // left for the server to refuse
  });

  it('joins, splits and names', () => {
    expect(joinPath('', 'a.txt')).toBe('a.txt');
    expect(joinPath('world/', '/region')).toBe('world/region');
    expect(joinPath('a', '')).toBe('a');
    expect(parentPath('a/b/c.txt')).toBe('a/b');
    expect(parentPath('c.txt')).toBe('');
    expect(parentPath('')).toBe('');
    expect(baseName('a/b/c.txt')).toBe('c.txt');
    expect(baseName('')).toBe('');
    expect(extension('world.tar.gz')).toBe('gz');
    expect(extension('a/Server.PROPERTIES')).toBe('properties');
    expect(extension('.bashrc')).toBe('');
    expect(extension('Makefile')).toBe('');
  });

  it('resolves typed paths against the folder shown, never above the root', () => {
    expect(resolvePath('world', 'backup')).toBe('world/backup');
    expect(resolvePath('world', '/backup')).toBe('backup');
    expect(resolvePath('world/region', '../other/./x')).toBe('world/other/x');
    expect(resolvePath('world', '..')).toBe('');
    expect(resolvePath('world', '../..')).toBeNull();
    expect(resolvePath('', '/')).toBe('');
    expect(resolvePath('a', '  b/ ')).toBe('a/b');
  });

  it('knows what is inside what', () => {
    expect(isWithin('a/b', 'a')).toBe(true);
    expect(isWithin('a', 'a')).toBe(true);
    expect(isWithin('ab', 'a')).toBe(false);
    expect(isWithin('x', '')).toBe(true);
  });

  it('builds breadcrumbs from the root', () => {
    expect(breadcrumbs('')).toEqual([{ label: 'Server files', path: '' }]);
    expect(breadcrumbs('/world/region/')).toEqual([
      { label: 'Server files', path: '' },
      { label: 'world', path: 'world' },
      { label: 'region', path: 'world/region' },
    ]);
  });

  it('refuses names that would be read as paths', () => {
    expect(nameProblem('server.properties')).toBeNull();
    expect(nameProblem('')).toMatch(/Enter a name/);
    expect(nameProblem('   ')).toMatch(/Enter a name/);
    expect(nameProblem(' a')).toMatch(/space/);
    expect(nameProblem('a/b')).toMatch(/“\/”/);
    expect(nameProblem('..')).toMatch(/not a name/);
    expect(nameProblem('a\nb')).toMatch(/control/);
    expect(nameProblem('a\u0000')).toMatch(/control/);
    expect(nameProblem('é'.repeat(128))).toMatch(/too long/); // 256 bytes
    expect(nameProblem('é'.repeat(127))).toBeNull();
  });
});

describe('the place in the URL', () => {
  it('parses with defaults for anything odd', () => {
    expect(parseFilesLocation('')).toEqual({ path: '', page: 1, sort: 'name', order: 'asc', edit: null });
    expect(parseFilesLocation('?path=/world/&page=3&sort=size&order=desc')).toEqual({
      path: 'world',
      page: 3,
      sort: 'size',
      order: 'desc',
      edit: null,
    });
    expect(parseFilesLocation('?page=0&sort=owner&order=up')).toMatchObject({ page: 1, sort: 'name', order: 'asc' });
    expect(parseFilesLocation('?page=2.5').page).toBe(1);
    expect(parseFilesLocation('?edit=config%2Fa%20b.yml').edit).toBe('config/a b.yml');
  });

  it('writes short links that read back the same', () => {
    expect(filesSearch({ path: '' })).toBe('');
    expect(filesSearch({ path: 'a b/c', page: 1, sort: 'name', order: 'asc' })).toBe('?path=a+b%2Fc');
    const loc = { path: 'world/region', page: 4, sort: 'modified' as const, order: 'desc' as const, edit: null };
    expect(parseFilesLocation(filesSearch(loc))).toEqual(loc);
    expect(filesSearch({ edit: 'x/y.json', path: 'ignored' })).toBe('?edit=x%2Fy.json');
    expect(filesHref('s 1', { path: 'w' })).toBe('/servers/s%201/files?path=w');
  });

  it('asks the API for the page shown', () => {
    const q = new URLSearchParams(listQuery({ path: 'w', page: 3, sort: 'size', order: 'desc' }));
    expect(Object.fromEntries(q)).toEqual({ path: 'w', offset: '200', limit: '100', sort: 'size', order: 'desc' });
  });

  it('links downloads straight to the API', () => {
    expect(downloadUrl('abc', 'world/level.dat')).toBe('/api/servers/abc/files/download?path=world%2Flevel.dat');
  });
});

describe('pages', () => {
  it('counts 100,000 entries in pages of 100', () => {
    const first = pageInfo(0, 100, 100_000);
    expect(first).toEqual({ from: 1, to: 100, page: 1, pages: 1000, hasPrev: false, hasNext: true });
    expect(pageLabel(first, 100_000)).toBe('1–100 of 100,000');
    const last = pageInfo(99_900, 100, 100_000);
    expect(last).toMatchObject({ from: 99_901, to: 100_000, page: 1000, hasPrev: true, hasNext: false });
  });

  it('handles empty and short folders', () => {
    expect(pageInfo(0, 0, 0)).toEqual({ from: 0, to: 0, page: 1, pages: 1, hasPrev: false, hasNext: false });
    expect(pageLabel(pageInfo(0, 0, 0), 0)).toBe('Empty folder');
    expect(pageInfo(0, 7, 7)).toMatchObject({ from: 1, to: 7, hasNext: false });
  });

  it('goes back to the last page that still has entries', () => {
    expect(clampPage(5, 250)).toBe(3);
    expect(clampPage(2, 0)).toBe(1);
    expect(clampPage(2, 200)).toBe(2);
    expect(clampPage(0, 200)).toBe(1);
  });
});

describe('sorting', () => {
  it('flips the order on the same column, starts ascending on another', () => {
    expect(nextSort({ sort: 'name', order: 'asc' }, 'name')).toEqual({ sort: 'name', order: 'desc' });
    expect(nextSort({ sort: 'name', order: 'desc' }, 'name')).toEqual({ sort: 'name', order: 'asc' });
    expect(nextSort({ sort: 'name', order: 'desc' }, 'size')).toEqual({ sort: 'size', order: 'asc' });
  });

  it('puts directories first in either order, names naturally', () => {
    const list = [entry('b.txt', 'file', 5), entry('z', 'dir'), entry('file10', 'file', 1), entry('a', 'dir'), entry('file9', 'file', 9)];
    expect(sortEntries(list, 'name', 'asc').map((e) => e.name)).toEqual(['a', 'z', 'b.txt', 'file9', 'file10']);
    expect(sortEntries(list, 'name', 'desc').map((e) => e.name)).toEqual(['z', 'a', 'file10', 'file9', 'b.txt']);
    expect(sortEntries(list, 'size', 'desc').map((e) => e.name)).toEqual(['z', 'a', 'file9', 'b.txt', 'file10']);
  });

  it('breaks ties by name', () => {
    expect(compareEntries(entry('a', 'file', 1, 5), entry('b', 'file', 1, 5), 'modified', 'asc')).toBeLessThan(0);
    expect(compareEntries(entry('a', 'file', 1, 9), entry('b', 'file', 1, 5), 'modified', 'asc')).toBeGreaterThan(0);
  });
});

describe('selection', () => {
  const paths = ['a', 'b', 'c', 'd', 'e'];
  const click = (s: Selection, i: number, shift = false) => clickSelect(s, paths, i, shift);

  it('toggles single rows', () => {
    let s = click(emptySelection(), 1);
    expect(s.selected).toEqual(['b']);
    s = click(s, 3);
    expect(s.selected).toEqual(['b', 'd']);
    s = click(s, 1);
    expect(s.selected).toEqual(['d']);
  });

  it('selects a range with shift, in either direction', () => {
    let s = click(emptySelection(), 1);
    s = click(s, 3, true);
    expect(s.selected).toEqual(['b', 'c', 'd']);
    s = click(emptySelection(), 4);
    s = click(s, 2, true);
    expect([...s.selected].sort()).toEqual(['c', 'd', 'e']);
  });

  it('removes a range when the anchor was unselected', () => {
    let s = toggleAll(emptySelection(), paths);
    s = click(s, 1); // b off, anchor b
    s = click(s, 3, true);
    expect(s.selected).toEqual(['a', 'e']);
  });

  it('shift without an anchor is a plain click', () => {
    expect(click(emptySelection(), 2, true).selected).toEqual(['c']);
  });

  it('selects all of the page, then none; keeps other pages', () => {
    let s: Selection = { selected: ['other/page'], anchor: null };
    s = toggleAll(s, paths);
    expect(allSelected(s, paths)).toBe(true);
    expect(s.selected).toHaveLength(6);
    s = toggleAll(s, paths);
    expect(s.selected).toEqual(['other/page']);
    expect(allSelected(emptySelection(), [])).toBe(false);
  });

  it('says when only some are selected', () => {
    const s = click(emptySelection(), 0);
    expect(someSelected(s, paths)).toBe(true);
    expect(someSelected(toggleAll(s, paths), paths)).toBe(false);
    expect(someSelected(emptySelection(), paths)).toBe(false);
  });

  it('forgets what is no longer listed', () => {
    const s = toggleAll(emptySelection(), paths);
    expect(pruneSelection(s, ['a', 'c']).selected).toEqual(['a', 'c']);
    const same = pruneSelection(s, paths);
    expect(same).toBe(s);
  });

  it('lists a few of many', () => {
    const many = Array.from({ length: 25 }, (_, i) => `f${i}`);
    expect(summarizePaths(many)).toEqual({ shown: many.slice(0, 10), more: 15 });
    expect(summarizePaths(['a'])).toEqual({ shown: ['a'], more: 0 });
  });
});

describe('upload chunks', () => {
  it('plans 8 MiB chunks, the last one shorter', () => {
    const size = CHUNK_SIZE * 2 + 5;
    expect(planChunks(size)).toEqual([
      { start: 0, end: CHUNK_SIZE },
      { start: CHUNK_SIZE, end: CHUNK_SIZE * 2 },
      { start: CHUNK_SIZE * 2, end: size },
    ]);
    expect(planChunks(CHUNK_SIZE)).toEqual([{ start: 0, end: CHUNK_SIZE }]);
  });

  it('resumes from the offset the server holds, even mid-chunk', () => {
    expect(planChunks(25, 10, 10)).toEqual([
      { start: 10, end: 20 },
      { start: 20, end: 25 },
    ]);
    expect(planChunks(25, 13, 10)).toEqual([
      { start: 13, end: 23 },
      { start: 23, end: 25 },
    ]);
    expect(planChunks(25, 25, 10)).toEqual([]);
    expect(() => planChunks(25, 26, 10)).toThrow();
  });

  it('sends one empty chunk for an empty file', () => {
    expect(planChunks(0)).toEqual([{ start: 0, end: 0 }]);
    expect(nextChunk({ size: 0, offset: 0, done: false })).toEqual({ start: 0, end: 0 });
    expect(nextChunk({ size: 0, offset: 0, done: true })).toBeNull();
  });

  it('follows the server state chunk by chunk', () => {
    expect(nextChunk({ size: 25, offset: 0, done: false }, 10)).toEqual({ start: 0, end: 10 });
    expect(nextChunk({ size: 25, offset: 20, done: false }, 10)).toEqual({ start: 20, end: 25 });
    expect(nextChunk({ size: 25, offset: 25, done: true }, 10)).toBeNull();
  });

  it('shows 100 % only when done', () => {
    expect(uploadPercent(0, 0, false)).toBe(0);
    expect(uploadPercent(50, 100, false)).toBe(50);
    expect(uploadPercent(100, 100, false)).toBe(99);
    expect(uploadPercent(100, 100, true)).toBe(100);
  });

  it('retries network trouble, not refusals', () => {
    expect(retryable(0)).toBe(true);
    expect(retryable(503)).toBe(true);
    expect(retryable(413)).toBe(false);
    expect(retryable(403)).toBe(false);
    expect(retryable(409)).toBe(false);
  });
});

describe('modes', () => {
  it('parses octal as typed', () => {
    expect(parseMode('644')).toBe(0o644);
    expect(parseMode('0755')).toBe(0o755);
    expect(parseMode('0o750')).toBe(0o750);
    expect(parseMode(' 4755 ')).toBe(0o4755);
    expect(parseMode('7777')).toBe(0o7777);
    for (const bad of ['', '8', '64', '888', '12345', 'rwx', '-644', '0x1ff']) expect(parseMode(bad)).toBeNull();
  });

  it('formats back', () => {
    expect(formatMode(0o644)).toBe('644');
    expect(formatMode(0o7)).toBe('007');
    expect(formatMode(0o4755)).toBe('4755');
    expect(formatMode(0o100644)).toBe('644'); // file type bits dropped
    expect(parseMode(formatMode(0o2750))).toBe(0o2750);
  });

  it('reads like ls -l', () => {
    expect(modeString('file', 0o644)).toBe('-rw-r--r--');
    expect(modeString('dir', 0o755)).toBe('drwxr-xr-x');
    expect(modeString('symlink', 0o777)).toBe('lrwxrwxrwx');
    expect(modeString('file', 0o4755)).toBe('-rwsr-xr-x');
    expect(modeString('file', 0o4644)).toBe('-rwSr--r--');
    expect(modeString('dir', 0o1777)).toBe('drwxrwxrwt');
    expect(modeString('dir', 0o2770)).toBe('drwxrws---');
  });
});

describe('archives', () => {
  it('offers Extract for archive names', () => {
    for (const n of ['a.zip', 'w.tar.gz', 'w.TGZ', 'w.tar.zst', 'w.tar.xz', 'w.tar', 'w.tzst']) expect(isArchive(n)).toBe(true);
    for (const n of ['a.gz.txt', 'zip', '.zip', 'a.rar', 'level.dat']) expect(isArchive(n)).toBe(false);
  });

  it('strips the archive suffix', () => {
    expect(archiveStem('backups/world.tar.gz')).toBe('world');
    expect(archiveStem('mods.zip')).toBe('mods');
    expect(archiveStem('plain.txt')).toBe('plain.txt');
  });

  it('names new archives after one entry or the time, clear of taken names', () => {
    const now = new Date(2026, 0, 2, 3, 4, 5);
    expect(archiveName(['world'], 'tar_gz', now)).toBe('world.tar.gz');
    expect(archiveName(['a', 'b'], 'zip', now)).toBe('archive-20260102-030405.zip');
    expect(archiveName(['world'], 'tar_zst', now, ['world.tar.zst', 'world (2).tar.zst'])).toBe('world (3).tar.zst');
  });
});

describe('change events', () => {
  it('touch the folder an entry is in', () => {
    expect(touchesDir([{ action: 'created', path: 'world/a.txt' }], 'world')).toBe(true);
    expect(touchesDir([{ action: 'modified', path: 'a.txt' }], '')).toBe(true);
    expect(touchesDir([{ action: 'created', path: 'world/region/r.0.0.mca' }], 'world')).toBe(false);
    expect(touchesDir([{ action: 'created', path: 'other/a.txt' }], 'world')).toBe(false);
  });

  it('count both ends of a rename', () => {
    expect(touchesDir([{ action: 'renamed', path: 'x/a', to: 'world/a' }], 'world')).toBe(true);
    expect(touchesDir([{ action: 'renamed', path: 'world/a', to: 'x/a' }], 'world')).toBe(true);
    expect(touchesDir([{ action: 'renamed', path: 'x/a', to: 'y/a' }], 'world')).toBe(false);
  });

  it('touch a folder that went away above the one shown', () => {
    expect(touchesDir([{ action: 'deleted', path: 'world' }], 'world/region')).toBe(true);
    expect(touchesDir([{ action: 'renamed', path: 'world', to: 'w2' }], 'world')).toBe(true);
    expect(touchesDir([{ action: 'modified', path: 'world' }], 'world/region')).toBe(false);
  });

  it('touch an open file', () => {
    expect(touchesFile([{ action: 'modified', path: 'config/a.yml' }], 'config/a.yml')).toBe(true);
    expect(touchesFile([{ action: 'deleted', path: 'config' }], 'config/a.yml')).toBe(true);
    expect(touchesFile([{ action: 'renamed', path: 'b.yml', to: 'config/a.yml' }], 'config/a.yml')).toBe(true);
    expect(touchesFile([{ action: 'modified', path: 'config/b.yml' }], 'config/a.yml')).toBe(false);
    expect(touchesFile([{ action: 'created', path: 'config' }], 'config/a.yml')).toBe(false);
  });

  it('debounces a burst into one refresh, bounded by maxWait', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      const d = debounce(fn, 100, 300);
      d();
      vi.advanceTimersByTime(50);
      d();
      vi.advanceTimersByTime(50);
      d();
      expect(fn).not.toHaveBeenCalled();
      vi.advanceTimersByTime(100);
      expect(fn).toHaveBeenCalledTimes(1);
      // A steady stream still refreshes every maxWait.
      for (let i = 0; i < 10; i++) {
        d();
        vi.advanceTimersByTime(50);
      }
      expect(fn).toHaveBeenCalledTimes(2);
      d.cancel();
      vi.advanceTimersByTime(1000);
      expect(fn).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('usage', () => {
  it('is a share of the limit, or nothing without one', () => {
    expect(usagePercent({ used_bytes: 512, limit_bytes: 1024 })).toBe(50);
    expect(usagePercent({ used_bytes: 2048, limit_bytes: 1024 })).toBe(200);
    expect(usagePercent({ used_bytes: 5, limit_bytes: null })).toBeNull();
    expect(usagePercent({ used_bytes: 5, limit_bytes: 0 })).toBeNull();
  });
});
