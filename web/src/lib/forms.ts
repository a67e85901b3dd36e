/** "27015" → 27015; anything that is not a whole number → null (range is the API's call). */
export function parsePort(s: string): number | null {
  const t = s.trim();
  if (!/^\d{1,9}$/.test(t)) return null;
  return Number(t);
}

/** A whole number from a form input, or null. */
export function parseWhole(s: string | number): number | null {
  if (typeof s === 'number') return Number.isInteger(s) ? s : null;
  const t = s.trim();
  if (!/^-?\d{1,12}$/.test(t)) return null;
  return Number(t);
}

/**
 * Allowed IP ranges from a text area: one per line or separated by commas/spaces.
 * Empty → null (the key works from anywhere); checking each range is the API's call.
 */
export function parseRanges(s: string): string[] | null {
  const out = s
    .split(/[\s,]+/)
    .map((r) => r.trim())
    .filter(Boolean);
  return out.length ? [...new Set(out)] : null;
}

/** An expiry date (`YYYY-MM-DD`) → unix millis at the end of that local day; '' → null. */
export function expiryMillis(day: string): number | null | 'invalid' {
  const t = day.trim();
  if (!t) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (!m) return 'invalid';
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 23, 59, 59, 999);
  return Number.isFinite(d.getTime()) ? d.getTime() : 'invalid';
}
