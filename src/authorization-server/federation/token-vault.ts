import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { sha256 } from '../crypto.ts';

/**
 * Seals a person's provider tokens for the store: AES-256-GCM under a key derived (HKDF-SHA256,
 * RFC 5869) from a configured secret, with the person's subject as additional data, so a sealed
 * blob copied onto another person's record does not open. Several secrets may be configured,
 * newest first: the newest seals, every one opens (rotation without a flag day); each blob names
 * its key by a short fingerprint.
 */
export interface ProviderTokenSet {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  /** Milliseconds since the epoch; undefined when the provider did not say. */
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
}

const INFO = Buffer.from('portcullis provider tokens v1');
const VERSION = 'v1';

interface VaultKey {
  readonly id: string;
  readonly key: Buffer;
}

export class TokenVault {
  readonly #keys: readonly VaultKey[];

  constructor(secrets: readonly Buffer[]) {
    if (secrets.length === 0) throw new TypeError('at least one key is needed');
    this.#keys = secrets.map((secret) => ({
      id: sha256(secret.toString('base64')).slice(0, 8),
      key: Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), INFO, 32)),
    }));
  }

  seal(subject: string, tokens: ProviderTokenSet): string {
    const current = this.#keys[0] as VaultKey;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(Buffer.from(subject, 'utf8'));
    const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
    return [
      VERSION,
      current.id,
      iv.toString('base64url'),
      body.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  /** The tokens, or undefined when the blob is malformed, tampered with, or under an unknown key. */
  open(subject: string, sealed: string): ProviderTokenSet | undefined {
    const [version, id, iv, body, tag] = sealed.split('.');
    const found = this.#keys.find((key) => key.id === id);
    if (version !== VERSION || found === undefined || !iv || !body || !tag) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', found.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(subject, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const text = Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
      return JSON.parse(text) as ProviderTokenSet;
    } catch {
      return undefined;
    }
  }

  /** True when the blob was sealed under an older key (re-seal it on the next write). */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.#keys[0]?.id;
  }
}
