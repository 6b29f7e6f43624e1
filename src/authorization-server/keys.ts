import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import type { JsonObject, SigningKeyRecord, Store } from '../store/index.ts';

export type SigningAlgorithm = 'ES256' | 'RS256';

/**
 * How long a new key is published before it signs. Verifiers that cache the key set (the JWKS
 * answer says max-age=300) see it before the first token it signs reaches them.
 */
export const KEY_PUBLISH_LEAD_MS = 10 * 60 * 1000;
/** Added to the access-token lifetime before a retired key leaves the set (clock skew). */
export const KEY_RETIRE_MARGIN_MS = 5 * 60 * 1000;

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly key: CryptoKey;
}

/** Creates a key pair and its record. `activatesAt` decides when it may sign. */
export async function createSigningKey(
  alg: SigningAlgorithm,
  now: number,
  activatesAt: number,
): Promise<SigningKeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
  });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg,
    privateJwk: { ...privateJwk, kid, alg } as JsonObject,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' } as JsonObject,
    createdAt: now,
    activatesAt,
    retiresAt: undefined,
    expiresAt: undefined,
  };
}

/** The key that signs at `now`: active, not retired, the most recently activated. */
export function currentKey(
  keys: readonly SigningKeyRecord[],
  now: number,
): SigningKeyRecord | undefined {
  return keys
    .filter((key) => key.activatesAt <= now && (key.retiresAt === undefined || key.retiresAt > now))
    .sort((a, b) => b.activatesAt - a.activatesAt)[0];
}

/** Keys in the published set at `now`: every key not yet past its expiry, future ones included. */
export function publishedKeys(keys: readonly SigningKeyRecord[], now: number): SigningKeyRecord[] {
  return keys.filter((key) => key.expiresAt === undefined || key.expiresAt > now);
}

/** First start: a key that signs at once, unless one already does. */
export async function ensureSigningKey(
  store: Store,
  alg: SigningAlgorithm,
  now: number,
): Promise<SigningKeyRecord> {
  const existing = currentKey(await store.listSigningKeys(), now);
  if (existing !== undefined) return existing;
  const created = await createSigningKey(alg, now, now);
  await store.putSigningKey(created);
  return created;
}

export interface RotationResult {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly activatesAt: number;
  /** Keys that stop signing when the new one starts, and when they leave the set. */
  readonly retiring: readonly { kid: string; retiresAt: number; expiresAt: number }[];
}

/**
 * Key rotation: the new key is published now and signs from `now + publishLeadMs`; every key
 * that would still sign then retires at that moment and stays published until the last token
 * it signed has expired (access-token lifetime plus a margin).
 */
export async function rotateSigningKeys(
  store: Store,
  options: {
    readonly alg: SigningAlgorithm;
    readonly now: number;
    readonly accessTokenTtlMs: number;
    readonly publishLeadMs?: number;
  },
): Promise<RotationResult> {
  const activatesAt = options.now + (options.publishLeadMs ?? KEY_PUBLISH_LEAD_MS);
  const created = await createSigningKey(options.alg, options.now, activatesAt);
  await store.putSigningKey(created);
  const retiring: { kid: string; retiresAt: number; expiresAt: number }[] = [];
  for (const key of await store.listSigningKeys()) {
    if (key.kid === created.kid || key.retiresAt !== undefined) continue;
    const retiresAt = Math.max(activatesAt, key.activatesAt);
    const expiresAt = retiresAt + options.accessTokenTtlMs + KEY_RETIRE_MARGIN_MS;
    await store.updateSigningKey(key.kid, { retiresAt, expiresAt });
    retiring.push({ kid: key.kid, retiresAt, expiresAt });
  }
  return { kid: created.kid, alg: options.alg, activatesAt, retiring };
}

/**
 * The server's view of its keys: read from the store (where `portcullis keys rotate`, another
 * process, writes them), kept in memory, re-read every `refreshMs` and whenever a key's
 * activation or expiry has passed since the last read.
 */
export class KeyRing {
  private readonly store: Store;
  private readonly now: () => number;
  private readonly alg: SigningAlgorithm;
  private readonly refreshMs: number;
  private records: readonly SigningKeyRecord[] = [];
  /** The published set, rebuilt only when the records are re-read: callers may cache by identity. */
  private jwks: JSONWebKeySet = { keys: [] };
  private loadedAt = Number.NEGATIVE_INFINITY;
  private nextChange = Number.POSITIVE_INFINITY;
  private loading: Promise<void> | undefined;
  private readonly imported = new Map<string, Promise<CryptoKey>>();

  constructor(
    store: Store,
    options: { now: () => number; alg: SigningAlgorithm; refreshMs?: number },
  ) {
    this.store = store;
    this.now = options.now;
    this.alg = options.alg;
    this.refreshMs = options.refreshMs ?? 30_000;
  }

  private async fresh(): Promise<readonly SigningKeyRecord[]> {
    const now = this.now();
    if (now - this.loadedAt < this.refreshMs && now < this.nextChange) return this.records;
    this.loading ??= this.reload().finally(() => {
      this.loading = undefined;
    });
    await this.loading;
    return this.records;
  }

  private async reload(): Promise<void> {
    const now = this.now();
    let records = await this.store.listSigningKeys();
    if (currentKey(records, now) === undefined) {
      await ensureSigningKey(this.store, this.alg, now);
      records = await this.store.listSigningKeys();
    }
    this.records = records;
    const published = publishedKeys(records, now).map((key) => ({ ...key.publicJwk }) as JWK);
    if (JSON.stringify(published) !== JSON.stringify(this.jwks.keys)) {
      this.jwks = Object.freeze({ keys: Object.freeze(published) as JWK[] });
    }
    this.loadedAt = now;
    const upcoming = records
      .flatMap((key) => [key.activatesAt, key.retiresAt, key.expiresAt])
      .filter((time): time is number => time !== undefined && time > now);
    this.nextChange = Math.min(Number.POSITIVE_INFINITY, ...upcoming);
  }

  /** Forces the next call to read the store (after a rotation in this process). */
  invalidate(): void {
    this.loadedAt = Number.NEGATIVE_INFINITY;
  }

  async signingKey(): Promise<SigningKey> {
    const records = await this.fresh();
    const record = currentKey(records, this.now());
    if (record === undefined) throw new Error('no signing key is active');
    let key = this.imported.get(record.kid);
    if (key === undefined) {
      key = importJWK(record.privateJwk as JWK, record.alg).then((imported) => {
        if (imported instanceof Uint8Array) throw new Error('signing key is not asymmetric');
        return imported;
      });
      this.imported.set(record.kid, key);
    }
    return { kid: record.kid, alg: record.alg as SigningAlgorithm, key: await key };
  }

  /**
   * The public keys: the JWKS document, and what the gateway verifies with directly. The same
   * (frozen) object is returned until the set changes, so a verifier can cache what it builds
   * from it by identity.
   */
  async publicKeySet(): Promise<JSONWebKeySet> {
    await this.fresh();
    return this.jwks;
  }
}
