/**
 * Command history for the console input, shell style: Up walks back through earlier
 * commands, Down walks forward and finally returns what was being typed.
 */
export class CommandHistory {
  private items: string[] = [];
  private index = 0; // == items.length when not browsing
  private draft = '';
  private readonly max: number;

  constructor(max = 100, initial: string[] = []) {
    this.max = max;
    this.items = initial.slice(-max);
    this.index = this.items.length;
  }

  /** Record a sent command (consecutive duplicates and blanks are not kept). */
  add(cmd: string) {
    if (cmd.trim() !== '' && this.items[this.items.length - 1] !== cmd) {
      this.items.push(cmd);
      if (this.items.length > this.max) this.items.shift();
    }
    this.index = this.items.length;
    this.draft = '';
  }

  /** Up arrow: the previous command, or null when there is none. */
  up(current: string): string | null {
    if (this.index === 0) return null;
    if (this.index === this.items.length) this.draft = current;
    this.index--;
    return this.items[this.index];
  }

  /** Down arrow: the next command, the draft after the last, or null when not browsing. */
  down(): string | null {
    if (this.index >= this.items.length) return null;
    this.index++;
    return this.index === this.items.length ? this.draft : this.items[this.index];
  }

  list(): readonly string[] {
    return this.items;
  }
}
