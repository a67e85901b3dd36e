/**
 * Collects console output and hands it to the terminal at most once per animation
 * frame, and never while the terminal is still parsing the previous chunk. Under a
 * flood the pending text is trimmed to the last `maxLines` lines: the terminal's
 * scrollback could not have kept more anyway.
 */
export type Schedule = (cb: () => void) => unknown;
export type Sink = (text: string, done: () => void) => void;

export class LineBatcher {
  private pending: string[] = [];
  private scheduled = false;
  private writing = false;
  private readonly sink: Sink;
  private readonly schedule: Schedule;
  private readonly maxLines: number;
  /** Lines trimmed under load (the total, for tests and diagnostics). */
  trimmed = 0;

  constructor(sink: Sink, opts: { schedule?: Schedule; maxLines?: number } = {}) {
    this.sink = sink;
    this.schedule =
      opts.schedule ??
      (typeof requestAnimationFrame === 'function'
        ? (cb) => requestAnimationFrame(cb)
        : (cb) => setTimeout(cb, 16));
    this.maxLines = opts.maxLines ?? 5000;
  }

  /** Queue whole lines (without line endings). */
  push(lines: readonly string[]) {
    for (const l of lines) this.pending.push(l + '\r\n');
    this.trim();
    this.kick();
  }

  /** Queue raw terminal text (already containing its line endings), e.g. a notice. */
  pushRaw(text: string) {
    this.pending.push(text);
    this.trim();
    this.kick();
  }

  /** Forget everything not yet written (the terminal is being reset). */
  clear() {
    this.pending = [];
  }

  get size() {
    return this.pending.length;
  }

  private trim() {
    const over = this.pending.length - this.maxLines;
    if (over > 0) {
      this.pending.splice(0, over);
      this.trimmed += over;
    }
  }

  private kick() {
    if (this.scheduled || this.writing || this.pending.length === 0) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  private flush() {
    this.scheduled = false;
    if (this.writing || this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.writing = true;
    this.sink(text, () => {
      this.writing = false;
      this.kick();
    });
  }
}
