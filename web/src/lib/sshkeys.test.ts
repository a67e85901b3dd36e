import { describe, expect, it } from 'vitest';
import { checkKeyLine, suggestedName } from './sshkeys';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host';

describe('checkKeyLine', () => {
  it('accepts a key line and trims white space and blank lines around it', () => {
    expect(checkKeyLine(`\n  ${ED}  \n\n`)).toEqual({ ok: true, line: ED, type: 'ssh-ed25519', comment: 'user@host' });
  });

  it('accepts a key without a comment and keeps a comment with spaces', () => {
    const bare = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=';
    expect(checkKeyLine(bare)).toMatchObject({ ok: true, line: bare, comment: '' });
    expect(checkKeyLine('ssh-rsa AAAAB3NzaC1yc2E  my  laptop')).toMatchObject({
      ok: true,
      line: 'ssh-rsa AAAAB3NzaC1yc2E my laptop',
      comment: 'my laptop',
    });
  });

  it('refuses empty text, private keys, SSH2 files and several keys', () => {
    expect(checkKeyLine('  \n ')).toMatchObject({ ok: false, error: expect.stringContaining('Paste your public key') });
    expect(checkKeyLine('-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----')).toMatchObject({
      ok: false,
      error: expect.stringContaining('private key'),
    });
    expect(checkKeyLine('---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----')).toMatchObject({
      ok: false,
      error: expect.stringContaining('ssh-keygen -i'),
    });
    expect(checkKeyLine(`${ED}\n${ED}`)).toMatchObject({ ok: false, error: expect.stringContaining('one key') });
  });

  it('refuses unknown types and missing or damaged key data', () => {
    expect(checkKeyLine('hello')).toMatchObject({ ok: false, error: expect.stringContaining('Not an OpenSSH public key') });
    expect(checkKeyLine('ssh-dss AAAAB3NzaC1kc3M')).toMatchObject({ ok: false, error: expect.stringContaining('Not an OpenSSH') });
    expect(checkKeyLine('ssh-ed25519')).toMatchObject({ ok: false, error: expect.stringContaining('missing or damaged') });
    expect(checkKeyLine('ssh-ed25519 !!!notbase64')).toMatchObject({ ok: false, error: expect.stringContaining('damaged') });
  });
});

describe('suggestedName', () => {
  it('is the comment of a valid key line, cut to 64 characters', () => {
    expect(suggestedName(ED)).toBe('user@host');
    expect(suggestedName('ssh-ed25519 AAAA')).toBe('');
    expect(suggestedName('nonsense words here')).toBe('');
    expect(suggestedName(`ssh-ed25519 AAAA ${'x'.repeat(80)}`)).toHaveLength(64);
  });
});
