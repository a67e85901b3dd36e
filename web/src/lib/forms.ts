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
