import { describe, expect, it } from 'vitest';
import { cleanTotp, groupSecret, qrPath, recoveryFile } from './twofactor';

describe('two-factor helpers', () => {
  it('draws a QR code as path data', () => {
    const uri = 'otpauth://totp/Garrison:admin?secret=JBSWY3DPEHPK3PXP&issuer=Garrison&algorithm=SHA1&digits=6&period=30';
    const { size, d } = qrPath(uri);
    // Version 5+ for ~100 bytes at level M: 37+ modules, always 4k+17.
    expect(size).toBeGreaterThanOrEqual(37);
    expect((size - 17) % 4).toBe(0);
    expect(d.startsWith('M0 0h1v1h-1z')).toBe(true); // finder pattern corner
    expect(qrPath(uri).d).toBe(d);
  });

  it('cleans TOTP codes', () => {
    expect(cleanTotp(' 123 456 ')).toBe('123456');
    expect(cleanTotp('12345')).toBeNull();
    expect(cleanTotp('1234567')).toBeNull();
    expect(cleanTotp('12a456')).toBeNull();
  });

  it('groups secrets and writes the codes file', () => {
    expect(groupSecret('ABCDEFGHIJ')).toBe('ABCD EFGH IJ');
    expect(groupSecret('ABCDEFGH')).toBe('ABCD EFGH');
    const f = recoveryFile('admin', ['aaaaa-bbbbb', 'ccccc-ddddd'], 'panel.example');
    expect(f).toContain('admin on panel.example');
    expect(f.split('\n')).toContain('ccccc-ddddd');
  });
});
