/**
 * Reconnect delays: base, base·2, base·4, ... capped at `max`, with up to `jitter`
 * (a fraction) added at random so many browsers do not reconnect in lockstep.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly base = 500,
    private readonly max = 15_000,
    private readonly jitter = 0.2,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt, in ms. */
  next(): number {
    const raw = Math.min(this.max, this.base * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(raw * (1 + this.jitter * this.random()));
  }

  /** A connection worked: start from `base` again. */
  reset() {
    this.attempt = 0;
  }

  get attempts() {
    return this.attempt;
  }
}
