// The file manager's logic: paths, pages, sorting, selection, upload chunks, modes and
// which change events concern what is on screen. No UI here; the server stays the
// authority on every path (it resolves them through its sandbox).

export type FileKind = 'file' | 'dir' | 'symlink' | 'other';

export interface FileEntry {
  name: string;
  /** Relative to the server root, `/`-separated, no leading slash. */
  path: string;
  kind: FileKind;
  size: number;
  /** Permission bits. */
  mode: number;
  /** Unix milliseconds. */
  modified: number;
  /** Where a symlink points (never followed). */
  target?: string;
}

export interface ListPage {
  path: string;
  offset: number;
  total: number;
  entries: FileEntry[];
}

export interface FileContent {
  path: string;
  content: string;
  size: number;
  modified: number;
}

export interface UploadState {
  id: string;
  path: string;
  size: number;
  offset: number;
  done: boolean;
}

export interface SearchMatch {
  entry: FileEntry;
  line?: number;
  text?: string;
}

export interface SearchResult {
  matches: SearchMatch[];
  truncated: boolean;
}

export interface DiskUsage {
  used_bytes: number;
  limit_bytes: number | null;
}

export interface SftpDetails {
  host: string;
  port: number;
  username: string;
  url: string;
}

export type FileAction = 'created' | 'modified' | 'deleted' | 'renamed';

export interface FileChange {
  action: FileAction;
  path: string;
  to?: string;
}

export interface FileEvent {
  server: string;
  source: 'api' | 'sftp' | 'game';
  changes: FileChange[];
}

export type SortKey = 'name' | 'size' | 'modified';
export type SortOrder = 'asc' | 'desc';
export const SORT_KEYS: SortKey[] = ['name', 'size', 'modified'];

export const PAGE_SIZE = 100;
/** Bytes per upload request (the API takes chunks of any size up to its body limit). */
export const CHUNK_SIZE = 8 * 1024 * 1024;
/** The editor's limit; larger files answer 413 `file_too_large`. */
export const EDITOR_LIMIT = 5 * 1024 * 1024;

// ---- What the caller may do (the API checks every request regardless) ----

export interface FileAbilities {
  /** The Files tab: list folders, search names. */
  list: boolean;
  /** Open in the editor, download, search contents. */
  read: boolean;
  /** Upload, new file, new folder, URL pull. */
  create: boolean;
  /** Save in the editor, rename, move, chmod; replace on upload. */
  update: boolean;
  delete: boolean;
  /** Compress and extract. */
  archive: boolean;
  /** Copy reads what it copies and makes something new. */
  copy: boolean;
  /** Checkboxes, only when something can be done with a selection. */
  select: boolean;
  sftp: boolean;
}

export function fileAbilities(permissions: readonly string[] | null | undefined): FileAbilities {
  const has = (p: string) => !!permissions?.includes(p);
  const a = {
    list: has('file.read'),
    read: has('file.read-content'),
    create: has('file.create'),
    update: has('file.update'),
    delete: has('file.delete'),
    archive: has('file.archive'),
    sftp: has('file.sftp'),
  };
  const copy = a.create && a.read;
  return { ...a, copy, select: a.read || a.update || copy || a.archive || a.delete };
}

// ---- Paths ----

/**
 * A path as the API wants it: `/`-separated, no leading or trailing slash, no empty or
 * `.` segments (`""` is the root). `..` is kept (and refused by the server).
 */
export function normalizePath(p: string): string {
  return p
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

export function joinPath(dir: string, name: string): string {
  const d = normalizePath(dir);
  const n = normalizePath(name);
  if (!d) return n;
  if (!n) return d;
  return `${d}/${n}`;
}

/** The directory holding `p` (`""` for an entry at the root, and for the root itself). */
export function parentPath(p: string): string {
  const n = normalizePath(p);
  const i = n.lastIndexOf('/');
  return i < 0 ? '' : n.slice(0, i);
}

/** The last segment of a path (`""` for the root). */
export function baseName(p: string): string {
  const n = normalizePath(p);
  return n.slice(n.lastIndexOf('/') + 1);
}

/**
 * A path the user typed, relative to `dir` unless it starts with `/` (the server's root),
 * with `.` and `..` resolved. Null when `..` climbs above the root.
 */
export function resolvePath(dir: string, input: string): string | null {
  const start = input.trim().startsWith('/') ? [] : normalizePath(dir).split('/').filter(Boolean);
  const out = [...start];
  for (const seg of input.trim().split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join('/');
}

/** Whether `p` is `dir` itself or somewhere below it. */
export function isWithin(p: string, dir: string): boolean {
  const a = normalizePath(p);
  const d = normalizePath(dir);
  return d === '' || a === d || a.startsWith(d + '/');
}

export interface Crumb {
  /** What to show: the segment's name, "Server files" for the root. */
  label: string;
  path: string;
}

/** Root first, then one crumb per segment, the last being `p` itself. */
export function breadcrumbs(p: string, rootLabel = 'Server files'): Crumb[] {
  const crumbs: Crumb[] = [{ label: rootLabel, path: '' }];
  let acc = '';
  for (const seg of normalizePath(p).split('/').filter(Boolean)) {
    acc = acc ? `${acc}/${seg}` : seg;
    crumbs.push({ label: seg, path: acc });
  }
  return crumbs;
}

/**
 * Why a new name cannot be used, or null. The server checks again (its deny list, the
 * length of names on disk); this catches what would be misunderstood as a path.
 */
export function nameProblem(name: string): string | null {
  if (name.trim() === '') return 'Enter a name';
  if (name !== name.trim()) return 'A name cannot start or end with a space';
  if (name.includes('/')) return 'A name cannot contain “/”';
  if (name === '.' || name === '..') return `“${name}” is not a name`;
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'A name cannot contain control characters';
  if (new TextEncoder().encode(name).length > 255) return 'The name is too long (255 bytes at most)';
  return null;
}

/** The extension after the last dot, lower case, without the dot (`""` for none or dotfiles). */
export function extension(name: string): string {
  const b = baseName(name);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i + 1).toLowerCase();
}

// ---- The listing's place: what the URL says ----

export interface FilesLocation {
  /** The directory shown. */
  path: string;
  /** 1-based page. */
  page: number;
  sort: SortKey;
  order: SortOrder;
  /** A file open in the editor, or null. */
  edit: string | null;
}

/** Reads `?path=&page=&sort=&order=&edit=`; anything odd falls back to the defaults. */
export function parseFilesLocation(search: string): FilesLocation {
  const q = new URLSearchParams(search);
  const page = Number(q.get('page'));
  const sort = q.get('sort') as SortKey | null;
  const order = q.get('order');
  const edit = q.get('edit');
  return {
    path: normalizePath(q.get('path') ?? ''),
    page: Number.isInteger(page) && page >= 1 ? page : 1,
    sort: sort && SORT_KEYS.includes(sort) ? sort : 'name',
    order: order === 'desc' ? 'desc' : 'asc',
    edit: edit ? normalizePath(edit) || null : null,
  };
}

/** The query string for a place (defaults left out, so plain links stay short). */
export function filesSearch(loc: Partial<FilesLocation>): string {
  const q = new URLSearchParams();
  if (loc.edit) q.set('edit', normalizePath(loc.edit));
  else {
    const path = normalizePath(loc.path ?? '');
    if (path) q.set('path', path);
    if (loc.page && loc.page > 1) q.set('page', String(loc.page));
    if (loc.sort && loc.sort !== 'name') q.set('sort', loc.sort);
    if (loc.order === 'desc') q.set('order', 'desc');
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function filesHref(serverId: string, loc: Partial<FilesLocation>): string {
  return `/servers/${encodeURIComponent(serverId)}/files${filesSearch(loc)}`;
}

/** The API path of one server's file routes. */
export function filesApi(serverId: string, route = ''): string {
  return `/servers/${encodeURIComponent(serverId)}/files${route}`;
}

/** A plain link that downloads a file (or a directory as `.tar.gz`); the cookie authenticates it. */
export function downloadUrl(serverId: string, path: string): string {
  return `/api${filesApi(serverId, '/download')}?path=${encodeURIComponent(normalizePath(path))}`;
}

/** The listing request for a place. */
export function listQuery(loc: Pick<FilesLocation, 'path' | 'page' | 'sort' | 'order'>, limit = PAGE_SIZE): string {
  const q = new URLSearchParams({
    path: normalizePath(loc.path),
    offset: String((Math.max(1, loc.page) - 1) * limit),
    limit: String(limit),
    sort: loc.sort,
    order: loc.order,
  });
  return `?${q}`;
}

// ---- Pages and sorting ----

export interface PageInfo {
  /** 1-based number of the first entry shown (0 when there are none). */
  from: number;
  /** Number of the last entry shown. */
  to: number;
  page: number;
  pages: number;
  hasPrev: boolean;
  hasNext: boolean;
}

export function pageInfo(offset: number, shown: number, total: number, limit = PAGE_SIZE): PageInfo {
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = Math.floor(offset / limit) + 1;
  return {
    from: shown > 0 ? offset + 1 : 0,
    to: offset + shown,
    page,
    pages,
    hasPrev: offset > 0,
    hasNext: offset + shown < total,
  };
}

/** "1–100 of 100,000". */
export function pageLabel(info: PageInfo, total: number): string {
  const n = (v: number) => v.toLocaleString('en-US');
  if (total === 0) return 'Empty folder';
  return `${n(info.from)}–${n(info.to)} of ${n(total)}`;
}

/**
 * The page to ask for when the one shown has become empty (its entries were deleted):
 * the last page that still has entries.
 */
export function clampPage(page: number, total: number, limit = PAGE_SIZE): number {
  return Math.min(Math.max(1, page), Math.max(1, Math.ceil(total / limit)));
}

/** Clicking a column header: the same column flips the order; another one starts ascending. */
export function nextSort(current: { sort: SortKey; order: SortOrder }, key: SortKey): { sort: SortKey; order: SortOrder } {
  if (current.sort === key) return { sort: key, order: current.order === 'asc' ? 'desc' : 'asc' };
  return { sort: key, order: 'asc' };
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/**
 * The order the API lists in: directories first, then by the key (names as a tie-break),
 * `desc` reversing within each group. Used for lists the page sorts itself.
 */
export function compareEntries(a: FileEntry, b: FileEntry, sort: SortKey, order: SortOrder): number {
  const da = a.kind === 'dir' ? 0 : 1;
  const db = b.kind === 'dir' ? 0 : 1;
  if (da !== db) return da - db;
  let c = 0;
  if (sort === 'size') c = a.size - b.size;
  else if (sort === 'modified') c = a.modified - b.modified;
  if (c === 0) c = collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return order === 'desc' ? -c : c;
}

export function sortEntries(entries: FileEntry[], sort: SortKey, order: SortOrder): FileEntry[] {
  return [...entries].sort((a, b) => compareEntries(a, b, sort, order));
}

// ---- Selection ----

export interface Selection {
  /** Selected paths, in the order they were picked. */
  selected: string[];
  /** Index of the last plain click, where a shift-click range starts. */
  anchor: number | null;
}

export const emptySelection = (): Selection => ({ selected: [], anchor: null });

/**
 * A click on row `index` of `paths` (the page shown). Plain: toggles that row. Shift:
 * selects every row from the anchor to it (the anchor's state decides, like file managers
 * do: from a selected anchor the range is added, from an unselected one removed).
 */
export function clickSelect(sel: Selection, paths: string[], index: number, shift = false): Selection {
  const path = paths[index];
  if (path === undefined) return sel;
  const has = new Set(sel.selected);
  if (shift && sel.anchor !== null && sel.anchor < paths.length) {
    const [lo, hi] = sel.anchor < index ? [sel.anchor, index] : [index, sel.anchor];
    const add = has.has(paths[sel.anchor]);
    const range = paths.slice(lo, hi + 1);
    const selected = add
      ? [...sel.selected, ...range.filter((p) => !has.has(p))]
      : sel.selected.filter((p) => !range.includes(p));
    return { selected, anchor: sel.anchor };
  }
  const selected = has.has(path) ? sel.selected.filter((p) => p !== path) : [...sel.selected, path];
  return { selected, anchor: index };
}

/** "Select all" on the page: all of it, or none when all of it was selected. */
export function toggleAll(sel: Selection, paths: string[]): Selection {
  if (paths.length > 0 && allSelected(sel, paths)) {
    const page = new Set(paths);
    return { selected: sel.selected.filter((p) => !page.has(p)), anchor: null };
  }
  const has = new Set(sel.selected);
  return { selected: [...sel.selected, ...paths.filter((p) => !has.has(p))], anchor: null };
}

export function allSelected(sel: Selection, paths: string[]): boolean {
  const has = new Set(sel.selected);
  return paths.length > 0 && paths.every((p) => has.has(p));
}

/** Some but not all of the page: the header checkbox shows "indeterminate". */
export function someSelected(sel: Selection, paths: string[]): boolean {
  const has = new Set(sel.selected);
  const n = paths.filter((p) => has.has(p)).length;
  return n > 0 && n < paths.length;
}

/** Keeps only what is still listed (after a refresh). */
export function pruneSelection(sel: Selection, paths: string[]): Selection {
  const listed = new Set(paths);
  const selected = sel.selected.filter((p) => listed.has(p));
  return selected.length === sel.selected.length ? sel : { selected, anchor: sel.anchor !== null && sel.anchor < paths.length ? sel.anchor : null };
}

/** What a delete confirmation lists: the first `max` names and how many more. */
export function summarizePaths(paths: string[], max = 10): { shown: string[]; more: number } {
  return { shown: paths.slice(0, max), more: Math.max(0, paths.length - max) };
}

// ---- Uploads ----

export interface Chunk {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * The chunks still to send of a `size`-byte file when the server holds `offset` bytes:
 * `chunkSize` each, the last one shorter; one empty chunk for an empty file (the server
 * moves it into place on the chunk that reaches the size).
 */
export function planChunks(size: number, offset = 0, chunkSize = CHUNK_SIZE): Chunk[] {
  if (!(chunkSize > 0)) throw new Error('chunk size must be positive');
  if (offset < 0 || offset > size) throw new Error(`offset ${offset} is outside 0..${size}`);
  if (size === 0) return [{ start: 0, end: 0 }];
  const out: Chunk[] = [];
  for (let s = offset; s < size; s += chunkSize) out.push({ start: s, end: Math.min(size, s + chunkSize) });
  return out;
}

/**
 * The next chunk to send after the server said where an upload stands, or null when it
 * is done. An empty file that is not done yet still needs its one empty chunk.
 */
export function nextChunk(state: Pick<UploadState, 'size' | 'offset' | 'done'>, chunkSize = CHUNK_SIZE): Chunk | null {
  if (state.done) return null;
  if (state.size === 0) return { start: 0, end: 0 };
  if (state.offset >= state.size) return null;
  return { start: state.offset, end: Math.min(state.size, state.offset + chunkSize) };
}

/** Whole percent of an upload (100 only when done). */
export function uploadPercent(sent: number, size: number, done: boolean): number {
  if (done) return 100;
  if (size <= 0) return 0;
  return Math.min(99, Math.floor((sent / size) * 100));
}

/** Whether a failed chunk is worth sending again by itself (network trouble, the node busy). */
export function retryable(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status === 502 || status === 503 || status === 504;
}

// ---- Modes ----

/**
 * An octal mode as typed: `644`, `0755`, `0o750`, `4755`. Null when it is not 3 or 4
 * octal digits (optionally after `0o`).
 */
export function parseMode(input: string): number | null {
  const s = input.trim().toLowerCase().replace(/^0o/, '');
  if (!/^[0-7]{3,4}$/.test(s)) return null;
  return parseInt(s, 8);
}

/** 0o755 → "755"; special bits make it four digits (0o4755 → "4755"). */
export function formatMode(mode: number): string {
  const m = mode & 0o7777;
  return m > 0o777 ? m.toString(8).padStart(4, '0') : m.toString(8).padStart(3, '0');
}

/** `drwxr-xr-x` like `ls -l`, with setuid/setgid/sticky. */
export function modeString(kind: FileKind, mode: number): string {
  const type = kind === 'dir' ? 'd' : kind === 'symlink' ? 'l' : kind === 'other' ? '?' : '-';
  const bit = (b: number, c: string) => (mode & b ? c : '-');
  const special = (exec: number, sp: number, on: string, off: string, r: string) =>
    mode & sp ? (mode & exec ? on : off) : mode & exec ? r : '-';
  return (
    type +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    special(0o100, 0o4000, 's', 'S', 'x') +
    bit(0o40, 'r') +
    bit(0o20, 'w') +
    special(0o10, 0o2000, 's', 'S', 'x') +
    bit(0o4, 'r') +
    bit(0o2, 'w') +
    special(0o1, 0o1000, 't', 'T', 'x')
  );
}

// ---- Archives ----

export type ArchiveFormat = 'tar_gz' | 'tar_zst' | 'zip';
export const ARCHIVE_FORMATS: { value: ArchiveFormat; label: string; ext: string }[] = [
  { value: 'tar_gz', label: '.tar.gz', ext: 'tar.gz' },
  { value: 'tar_zst', label: '.tar.zst', ext: 'tar.zst' },
  { value: 'zip', label: '.zip', ext: 'zip' },
];

const ARCHIVE_SUFFIXES = ['.tar.gz', '.tgz', '.tar.zst', '.tzst', '.tar.xz', '.txz', '.tar', '.zip'];

/** Whether Extract is offered for a file (by name; the server looks at the bytes). */
export function isArchive(name: string): boolean {
  const n = name.toLowerCase();
  return ARCHIVE_SUFFIXES.some((s) => n.endsWith(s) && n.length > s.length);
}

/** `world.tar.gz` → `world`: the name without its archive suffix. */
export function archiveStem(name: string): string {
  const b = baseName(name);
  const n = b.toLowerCase();
  const s = ARCHIVE_SUFFIXES.find((x) => n.endsWith(x) && n.length > x.length);
  return s ? b.slice(0, b.length - s.length) : b;
}

/**
 * A name for a new archive: one entry gives its name (`world` → `world.zip`), several
 * `archive-YYYYMMDD-HHMMSS`. Kept clear of `taken` names by a counter.
 */
export function archiveName(paths: string[], format: ArchiveFormat, now = new Date(), taken: Iterable<string> = []): string {
  const ext = ARCHIVE_FORMATS.find((f) => f.value === format)!.ext;
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const stem = paths.length === 1 ? baseName(paths[0]) || 'archive' : `archive-${stamp}`;
  const used = new Set(taken);
  let name = `${stem}.${ext}`;
  for (let i = 2; used.has(name); i++) name = `${stem} (${i}).${ext}`;
  return name;
}

// ---- Change events ----

/** The paths a change concerns: where it happened and, for a rename, where it went. */
function changedPaths(c: FileChange): string[] {
  return c.to !== undefined && c.to !== null ? [normalizePath(c.path), normalizePath(c.to)] : [normalizePath(c.path)];
}

/**
 * Whether changes alter the listing of `dir`: an entry directly in it came, went or
 * changed, or `dir` itself (or a folder above it) was deleted or renamed.
 */
export function touchesDir(changes: FileChange[], dir: string): boolean {
  const d = normalizePath(dir);
  return changes.some((c) =>
    changedPaths(c).some((p) => {
      if (p !== '' && parentPath(p) === d) return true;
      // The folder shown (or one above it) went away or moved.
      return (c.action === 'deleted' || c.action === 'renamed') && p === normalizePath(c.path) && d !== '' && isWithin(d, p);
    }),
  );
}

/** Whether changes concern the file `path` (it was modified, deleted or renamed, or a folder above it was). */
export function touchesFile(changes: FileChange[], path: string): boolean {
  const f = normalizePath(path);
  return changes.some((c) => {
    const from = normalizePath(c.path);
    if (from === f) return true;
    if ((c.action === 'deleted' || c.action === 'renamed') && isWithin(f, from)) return true;
    return c.to !== undefined && normalizePath(c.to) === f;
  });
}

/**
 * Calls `fn` once after `ms` of quiet: a burst of change events becomes one refresh.
 * `maxWait` bounds how long a steady stream can postpone it.
 */
export function debounce(
  fn: () => void,
  ms: number,
  maxWait = ms * 4,
  // Wrapped: the browser's timer functions refuse to be called as methods of another object.
  timers = {
    set: (f: () => void, t: number) => setTimeout(f, t),
    clear: (t: ReturnType<typeof setTimeout>) => clearTimeout(t),
  },
) {
  let t: ReturnType<typeof setTimeout> | null = null;
  let first: number | null = null;
  const run = () => {
    t = null;
    first = null;
    fn();
  };
  const call = () => {
    const now = Date.now();
    if (first === null) first = now;
    if (t !== null) timers.clear(t);
    const wait = Math.max(0, Math.min(ms, first + maxWait - now));
    t = timers.set(run, wait);
  };
  call.cancel = () => {
    if (t !== null) timers.clear(t);
    t = null;
    first = null;
  };
  return call;
}

// ---- Usage ----

/** Share of the limit used, 0..100 (may exceed 100 when over the limit); null without a limit. */
export function usagePercent(u: DiskUsage): number | null {
  if (u.limit_bytes === null || u.limit_bytes === undefined || u.limit_bytes <= 0) return null;
  return (u.used_bytes / u.limit_bytes) * 100;
}
