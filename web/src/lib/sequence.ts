/**
 * Keeps the console continuous across reconnects using the line sequence numbers:
 * a fresh `console.history` repeats lines already on screen, and may start after a gap.
 */
export interface HistoryPlan {
  /** Clear the terminal first (first connect, or Garrison restarted and numbering began anew). */
  reset: boolean;
  /** Lines lost between what is on screen and the history's first line. */
  skipped: number;
  /** The lines to write. */
  lines: string[];
}

/**
 * `shownNext` is the sequence number after the last line on screen (null before the
 * first history). The history's lines end just before `nextSeq`.
 */
export function planHistory(shownNext: number | null, lines: string[], nextSeq: number): HistoryPlan {
  const first = nextSeq - lines.length;
  if (shownNext === null || nextSeq < shownNext) {
    return { reset: true, skipped: 0, lines };
  }
  if (first > shownNext) {
    return { reset: false, skipped: first - shownNext, lines };
  }
  return { reset: false, skipped: 0, lines: lines.slice(shownNext - first) };
}

/**
 * A live batch starting at `seq`: the part not yet on screen, and how many lines
 * were lost before it.
 */
export function planBatch(
  shownNext: number | null,
  seq: number,
  lines: string[],
): { skipped: number; lines: string[] } {
  if (shownNext === null) return { skipped: 0, lines };
  if (seq > shownNext) return { skipped: seq - shownNext, lines };
  return { skipped: 0, lines: lines.slice(Math.min(lines.length, shownNext - seq)) };
}
