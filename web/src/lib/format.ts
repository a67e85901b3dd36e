const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; one decimal under 10, none above. */
export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '—';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(v)} B`;
  const s = v < 10 ? v.toFixed(1) : Math.round(v).toString();
  return `${s} ${UNITS[i]}`;
}

/** 12.345 → "12.3 %"; more than one core can exceed 100. */
export function formatPercent(p: number | null | undefined): string {
  if (p == null || !Number.isFinite(p)) return '—';
  const v = Math.max(0, p);
  return `${v < 10 ? v.toFixed(1) : Math.round(v).toString()} %`;
}

/** 3725 → "1h 2m 5s"; 0 → "—" (not running). */
export function formatUptime(secs: number | null | undefined): string {
  if (secs == null || !Number.isFinite(secs) || secs <= 0) return '—';
  const s = Math.floor(secs);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m ${sec}s`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

export function formatDate(ms: number | null | undefined): string {
  if (ms == null) return '—';
  return new Date(ms).toLocaleString();
}

export function formatPlayers(p: { online: number; max?: number } | null | undefined): string {
  if (!p) return '—';
  return p.max != null ? `${p.online} / ${p.max}` : String(p.online);
}

/** A URL the page may show as a link: only web links are, anything else (`javascript:`) is text. */
export function safeLink(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}
