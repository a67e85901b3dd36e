import { describe, expect, it } from 'vitest';
import { findPrompt, safeLink } from './prompts';

const hytale = {
  url_regex: '(https://\\S+/device/verify\\S*)',
  code_regex: 'code:\\s+([A-Z0-9-]+)',
  message: 'Sign in to download the game',
};

describe('findPrompt', () => {
  it('pairs a URL with a code on a later line', () => {
    const lines = [
      'Downloading…',
      'Visit https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=ABCD-1234',
      'Enter code: ABCD-1234',
    ];
    expect(findPrompt(lines, [hytale])).toEqual({
      url: 'https://oauth.accounts.hytale.com/oauth2/device/verify?user_code=ABCD-1234',
      code: 'ABCD-1234',
      message: 'Sign in to download the game',
    });
  });

  it('needs both halves within a few lines', () => {
    const far = ['Visit https://x.test/device/verify', ...Array(9).fill('noise'), 'Enter code: ZZZZ'];
    expect(findPrompt(far, [hytale])).toBeNull();
    expect(findPrompt(['Visit https://x.test/device/verify'], [hytale])).toBeNull();
  });

  it('takes the code first, too, and keeps the latest prompt', () => {
    const lines = ['code: OLD1', 'https://x.test/device/verify?a', 'code: NEW2', 'https://x.test/device/verify?b'];
    expect(findPrompt(lines, [hytale])).toMatchObject({ url: 'https://x.test/device/verify?b', code: 'NEW2' });
  });

  it('without a code pattern a URL is enough; no group means the whole match', () => {
    expect(findPrompt(['go to https://login.test/x now'], [{ url_regex: 'https://login\\.test/\\S+', message: 'Log in' }])).toEqual({
      url: 'https://login.test/x',
      message: 'Log in',
    });
  });

  it('skips patterns JavaScript cannot compile', () => {
    expect(findPrompt(['https://a'], [{ url_regex: '(', message: '' }])).toBeNull();
  });
});

describe('safeLink', () => {
  it('allows only web links', () => {
    expect(safeLink('https://example.test/a?b=c')).toBe('https://example.test/a?b=c');
    expect(safeLink('javascript:alert(1)')).toBeNull();
    expect(safeLink('not a url')).toBeNull();
  });
});
