import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError } from '../errors/index.ts';

/** Environment variable that holds the token-store key (32 bytes, hex or base64/base64url). */
export const TOKEN_KEY_ENV = 'PORTCULLIS_TOKEN_KEY';
const KEY_FILE = 'key';
const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * The AES-256-GCM key of a token store: from PORTCULLIS_TOKEN_KEY when set, else the store's own
 * key file, generated on first use with mode 0600. Two processes starting at once end up with
 * the same key: the file is written under a temporary name and hard-linked into place, which
 * fails for the second writer, who then reads the winner's key.
 */
export function loadStoreKey(dir: string, env: NodeJS.ProcessEnv): Buffer {
  const fromEnv = env[TOKEN_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return decodeKey(fromEnv);
  const path = join(dir, KEY_FILE);
  try {
    return readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.key.${process.pid}.${randomBytes(6).toString('hex')}`);
  writeFileSync(temp, `${randomBytes(KEY_BYTES).toString('base64url')}\n`, {
    mode: 0o600,
    flag: 'wx',
  });
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw storeError(error, path);
  } finally {
    unlinkSync(temp);
  }
  return readKeyFile(path);
}

function readKeyFile(path: string): Buffer {
  const stat = statSync(path);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    throw new ClientError(
      'ClientTokenStoreFailed',
      `the token-store key ${path} is readable by other users (mode ${(stat.mode & 0o777).toString(8)})`,
      { fix: `chmod 600 ${path}` },
    );
  }
  return decodeKey(readFileSync(path, 'utf8').trim(), path);
}

function decodeKey(text: string, where = TOKEN_KEY_ENV): Buffer {
  const value = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(value)
    ? Buffer.from(value, 'hex')
    : /^[A-Za-z0-9+/_-]{43}={0,1}$/.test(value)
      ? Buffer.from(value.replace(/=+$/, ''), 'base64url')
      : undefined;
  if (key === undefined || key.length !== KEY_BYTES) {
    throw new ClientError('ClientTokenStoreFailed', `${where} is not a 32-byte key`, {
      fix: `set ${TOKEN_KEY_ENV} to 64 hex digits or 43 base64url characters, e.g. the output of: openssl rand -hex 32`,
    });
  }
  return key;
}

/** The sealed form on disk: JSON with base64url fields, the format versioned. */
interface Sealed {
  readonly v: 1;
  readonly alg: 'A256GCM';
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

/**
 * AES-256-GCM with a fresh 96-bit IV per write. `aad` names the slot (kind and file name), so a
 * file copied over another one fails to open instead of being read as that slot's data.
 */
export function seal(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const sealed: Sealed = {
    v: 1,
    alg: 'A256GCM',
    iv: iv.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
    data: data.toString('base64url'),
  };
  return `${JSON.stringify(sealed)}\n`;
}

export function unseal(key: Buffer, text: string, aad: string, where: string): string {
  try {
    const sealed = JSON.parse(text) as Sealed;
    if (sealed.v !== 1 || sealed.alg !== 'A256GCM') throw new Error('unknown format');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(sealed.data, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch (error) {
    throw new ClientError(
      'ClientTokenStoreFailed',
      `cannot decrypt ${where}: wrong key, or the file was modified`,
      {
        fix: `use the ${TOKEN_KEY_ENV} (or key file) the store was written with, or delete the file and sign in again`,
        cause: error,
      },
    );
  }
}

export function storeError(error: unknown, path: string): ClientError {
  if (error instanceof ClientError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new ClientError('ClientTokenStoreFailed', `token store: ${path}: ${code}`, {
    fix: 'check that the --token-store folder exists and belongs to you',
    cause: error,
  });
}

/**
 * Creates the store folder (0700) or checks an existing one: it must belong to this user and not
 * be writable by others, who could otherwise plant a key file of their own before ours exists.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return;
  const stat = statSync(dir);
  const uid = process.getuid?.();
  if ((uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0) {
    throw new ClientError(
      'ClientTokenStoreFailed',
      `the token store folder ${dir} is writable by other users or belongs to someone else`,
      { fix: `use a folder of your own (chmod 700 ${dir}), or pass another --token-store` },
    );
  }
}
