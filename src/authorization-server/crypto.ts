import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** A random value of `bytes` bytes, base64url. 32 bytes = 256 bits for codes and tokens. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256, base64url: how codes, refresh tokens, sessions and client secrets are stored. */
export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

export function hmacSha256(key: Buffer | string, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('base64url');
}

/** Constant-time string comparison (lengths are compared first, which leaks only the length). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Compares hashes of both sides, so neither the value nor its length leaks through timing. */
export function safeEqualHashed(value: string, expectedHash: string): boolean {
  return safeEqual(sha256(value), expectedHash);
}

const GRACE_INFO = Buffer.from('portcullis refresh grace v1');

function graceKey(refreshToken: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', Buffer.from(refreshToken, 'utf8'), Buffer.alloc(0), GRACE_INFO, 32),
  );
}

/**
 * Seals the successor token response under a key derived from the refresh token it replaces
 * (HKDF-SHA256, then AES-256-GCM). The store keeps only this blob: the pair can be opened again
 * only by whoever presents the old token, which is exactly who the grace rule serves.
 */
export function sealForGrace(refreshToken: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', graceKey(refreshToken), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Opens a grace blob; undefined when it does not open with this token. */
export function openGraceBlob(refreshToken: string, blob: string): string | undefined {
  try {
    const bytes = Buffer.from(blob, 'base64url');
    const iv = bytes.subarray(0, 12);
    const tag = bytes.subarray(bytes.length - 16);
    const body = bytes.subarray(12, bytes.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', graceKey(refreshToken), iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
