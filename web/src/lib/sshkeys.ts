// SSH public keys on the account page: a first look at a pasted key line before it is
// sent. The server parses the key and stays the authority; this only catches the
// common slips (a private key, several keys, a line from another format) early.

/** What the server answers for a key. */
export interface SshKey {
  id: string;
  name: string;
  fingerprint: string;
  key_type: string;
  created_at: number;
}

/** The key types Garrison accepts (as `crates/garrison-panel/src/api/ssh_keys.rs`). */
export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

export type KeyLineCheck = { ok: true; line: string; type: string; comment: string } | { ok: false; error: string };

/**
 * The pasted text as one key line (`type base64 [comment]`, outer white space and blank
 * lines dropped), or why it cannot be one.
 */
export function checkKeyLine(text: string): KeyLineCheck {
  const lines = text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) return { ok: false, error: 'Paste your public key, e.g. the contents of ~/.ssh/id_ed25519.pub' };
  const first = lines[0];
  if (/^-----BEGIN .*PRIVATE KEY-----/.test(first)) {
    return { ok: false, error: 'This is a private key: never share it. Paste the public key (the .pub file) instead' };
  }
  if (/^----\s*BEGIN SSH2 PUBLIC KEY/.test(first)) {
    return { ok: false, error: 'This key is in SSH2 format: convert it with ssh-keygen -i -f FILE and paste the line it prints' };
  }
  if (lines.length > 1) return { ok: false, error: 'Paste one key (a single line) at a time' };
  const [type = '', data = '', ...rest] = first.split(/\s+/);
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    return { ok: false, error: 'Not an OpenSSH public key: it should start with ssh-ed25519, ecdsa-sha2-… or ssh-rsa' };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return { ok: false, error: 'The key data after the type is missing or damaged' };
  return { ok: true, line: [type, data, ...rest].join(' '), type, comment: rest.join(' ') };
}

/** A name to suggest for a pasted key: its comment (often user@host), at most 64 characters. */
export function suggestedName(text: string): string {
  const c = checkKeyLine(text);
  return c.ok ? [...c.comment].slice(0, 64).join('') : '';
}
