// Two-factor helpers: the QR code of an otpauth:// URI as SVG path data, code input
// clean-up, and the recovery codes file.
import qrcode from 'qrcode-generator';

export interface TwoFactorStatus {
  enabled: boolean;
  pending: boolean;
  recovery_codes_left: number;
  required: boolean;
}

export interface TwoFactorSetup {
  secret: string;
  otpauth_uri: string;
}

/** The QR code of `text` as one SVG path (1 unit per module) and its size in modules. */
export function qrPath(text: string): { size: number; d: string } {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  let d = '';
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (qr.isDark(y, x)) d += `M${x} ${y}h1v1h-1z`;
    }
  }
  return { size: n, d };
}

/** A typed TOTP code without spaces, or null when it is not 6 digits. */
export function cleanTotp(s: string): string | null {
  const t = s.replace(/\s+/g, '');
  return /^\d{6}$/.test(t) ? t : null;
}

/** The base32 secret in groups of four, easier to type by hand. */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

/** The text of the downloadable recovery codes file. */
export function recoveryFile(username: string, codes: string[], host: string): string {
  return [
    `Garrison recovery codes for ${username} on ${host}`,
    'Each code logs you in once when you cannot use your authenticator app.',
    '',
    ...codes,
    '',
  ].join('\n');
}
