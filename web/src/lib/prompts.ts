// Sign-in prompts in console lines, read the way the node's watcher reads them
// (crates/garrison-agent/src/prompts.rs): a URL (group 1 of `url_regex`) and, when the
// template asks for one, a code (group 1 of `code_regex`) on the same line or within
// a few lines of each other. The page uses it for lines it got as history, whose live
// prompt event it missed (it opened the page after the game printed them).

import type { Prompt, PromptPattern } from './types';

/** Lines to wait for a code after its URL was seen (or a URL after its code). */
const PAIR_WINDOW = 8;

function compile(source: string): RegExp | null {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(source, flags);
    } catch {
      /* try without `u`, else skip it */
    }
  }
  return null;
}

function capture(re: RegExp, line: string): string | null {
  const m = re.exec(line);
  if (!m) return null;
  return m[1] ?? m[0];
}

/** The last complete prompt in `lines`, or null. Patterns JavaScript cannot compile are skipped. */
export function findPrompt(lines: string[], patterns: PromptPattern[]): Prompt | null {
  let found: { prompt: Prompt; at: number } | null = null;
  for (const p of patterns) {
    const url = compile(p.url_regex);
    if (!url) continue;
    const code = p.code_regex ? compile(p.code_regex) : null;
    if (p.code_regex && !code) continue;
    let pendingUrl: string | null = null;
    let pendingCode: string | null = null;
    let age = 0;
    lines.forEach((line, i) => {
      const u = capture(url, line);
      const c = code ? capture(code, line) : null;
      if (u === null && c === null) {
        if (pendingUrl !== null || pendingCode !== null) {
          age++;
          if (age > PAIR_WINDOW) pendingUrl = pendingCode = null;
        }
        return;
      }
      if (u !== null) {
        pendingUrl = u;
        age = 0;
      }
      if (c !== null) {
        pendingCode = c;
        age = 0;
      }
      if (pendingUrl === null || (code && pendingCode === null)) return;
      const prompt: Prompt = { url: pendingUrl, message: p.message, ...(code ? { code: pendingCode } : {}) };
      pendingUrl = pendingCode = null;
      if (!found || i >= found.at) found = { prompt, at: i };
    });
  }
  return found ? (found as { prompt: Prompt }).prompt : null;
}

/** Only web links are shown as links. */
export function safeLink(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}
