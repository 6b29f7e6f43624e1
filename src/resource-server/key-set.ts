import { type CryptoKey, importJWK, type JWK } from 'jose';
import type { Logger } from '../lib/log.ts';
import { decodeBase64urlStrict } from './jose-segments.ts';

/*
 * A key set checked on load (RFC 8725 §3.4, RFC 7517): public keys only, RSA of at least 2048
 * bits with exponent 65537, EC points of the right length on the named curve (WebCrypto's
 * import validates the point), Ed25519. Each usable (key, algorithm) pair is imported once.
 */

/** One key imported for one algorithm. The object identity is stable across refreshes. */
export interface VerificationKey {
  readonly kid: string | undefined;
  readonly alg: string;
  readonly key: CryptoKey;
  /** The public members the key was imported from, canonical JSON; identifies the key. */
  readonly id: string;
}

export type KeySelection =
  | { readonly found: VerificationKey }
  | { readonly found: undefined; readonly reason: 'none' | 'ambiguous' };

/** An immutable, validated key set. */
export class KeySet {
  readonly keys: readonly VerificationKey[];
  readonly #members: ReadonlySet<VerificationKey>;

  constructor(keys: readonly VerificationKey[]) {
    this.keys = Object.freeze([...keys]);
    this.#members = new Set(keys);
  }

  has(key: VerificationKey): boolean {
    return this.#members.has(key);
  }

  /**
   * By `kid` when the token names one; without `kid` only when exactly one key can verify the
   * algorithm. Never "try each key" (RFC 8725 §3.10; one key, one algorithm: §3.1).
   */
  select(kid: string | undefined, alg: string): KeySelection {
    let found: VerificationKey | undefined;
    for (const key of this.keys) {
      if (key.alg !== alg || (kid !== undefined && key.kid !== kid)) continue;
      if (found !== undefined) return { found: undefined, reason: 'ambiguous' };
      found = key;
    }
    return found ? { found } : { found: undefined, reason: 'none' };
  }
}

/** A key set carrying private key material is refused whole: its publisher is compromised. */
export class PrivateKeyMaterialError extends Error {
  override readonly name = 'PrivateKeyMaterialError';
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const EC_CURVES: Readonly<Record<string, { alg: string; bytes: number }>> = {
  'P-256': { alg: 'ES256', bytes: 32 },
  'P-384': { alg: 'ES384', bytes: 48 },
  'P-521': { alg: 'ES512', bytes: 66 },
};
const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384;
const MAX_KID_LENGTH = 1024;
/** More keys than this in one set is refused (JWT-39 in docs/security-cases.md: 10 000 keys). */
export const MAX_KEYS_PER_SET = 100;

interface Candidate {
  readonly kid: string | undefined;
  readonly algs: readonly string[];
  readonly jwk: JWK;
}

function bitLength(bytes: Buffer): number {
  let index = 0;
  while (index < bytes.length && bytes[index] === 0) index++;
  if (index === bytes.length) return 0;
  return (bytes.length - index) * 8 - Math.clz32(bytes[index] ?? 0) + 24;
}

function member(jwk: Record<string, unknown>, name: string): string | undefined {
  const value = jwk[name];
  return typeof value === 'string' ? value : undefined;
}

type KeyMaterial =
  | { readonly jwk: JWK; readonly possible: readonly string[] }
  | { readonly dropped: string };

function rsaMaterial(jwk: Record<string, unknown>): KeyMaterial {
  const n = decodeBase64urlStrict(member(jwk, 'n') ?? '!');
  const e = member(jwk, 'e');
  if (n === undefined) return { dropped: 'RSA modulus missing or not base64url' };
  if (e !== 'AQAB') return { dropped: 'RSA public exponent is not 65537' };
  const bits = bitLength(n);
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    return { dropped: `RSA modulus of ${bits} bits (need ${MIN_RSA_BITS}-${MAX_RSA_BITS})` };
  }
  return { jwk: { kty: 'RSA', n: member(jwk, 'n'), e }, possible: [...RSA_ALGS] };
}

function ecMaterial(jwk: Record<string, unknown>): KeyMaterial {
  const crv = member(jwk, 'crv') ?? '';
  const curve = EC_CURVES[crv];
  if (curve === undefined) return { dropped: `unsupported EC curve ${crv}` };
  const x = decodeBase64urlStrict(member(jwk, 'x') ?? '!');
  const y = decodeBase64urlStrict(member(jwk, 'y') ?? '!');
  if (x?.length !== curve.bytes || y?.length !== curve.bytes) {
    return { dropped: `EC coordinates are not ${curve.bytes} bytes for ${crv}` };
  }
  // Whether the point is on the curve is checked by the WebCrypto import.
  return {
    jwk: { kty: 'EC', crv, x: member(jwk, 'x'), y: member(jwk, 'y') },
    possible: [curve.alg],
  };
}

function okpMaterial(jwk: Record<string, unknown>): KeyMaterial {
  if (jwk.crv !== 'Ed25519') return { dropped: `unsupported OKP curve ${String(jwk.crv)}` };
  const x = decodeBase64urlStrict(member(jwk, 'x') ?? '!');
  if (x?.length !== 32) return { dropped: 'Ed25519 public key is not 32 bytes' };
  return { jwk: { kty: 'OKP', crv: 'Ed25519', x: member(jwk, 'x') }, possible: ['EdDSA'] };
}

function keyMaterial(jwk: Record<string, unknown>): KeyMaterial {
  switch (jwk.kty) {
    case 'RSA':
      return rsaMaterial(jwk);
    case 'EC':
      return ecMaterial(jwk);
    case 'OKP':
      return okpMaterial(jwk);
    case 'oct':
      return { dropped: 'symmetric key (kty oct)' };
    default:
      return { dropped: `unsupported key type ${String(jwk.kty)}` };
  }
}

/** `kid`, `use`, `key_ops` and `alg` members; the reason to drop the key, if any. */
function checkUsage(jwk: Record<string, unknown>): string | undefined {
  const kid = jwk.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid.length > MAX_KID_LENGTH)) {
    return 'kid is not a string of reasonable length';
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'use is not "sig"';
  if (
    jwk.key_ops !== undefined &&
    (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify'))
  ) {
    return 'key_ops does not include "verify"';
  }
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') return 'alg is not a string';
  return undefined;
}

/** Checks one JWK; returns what can be imported, or why it is dropped. */
export function checkJwk(
  value: unknown,
  algorithms: readonly string[],
): Candidate | { readonly dropped: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { dropped: 'not a JSON object' };
  }
  const jwk = value as Record<string, unknown>;
  for (const name of PRIVATE_MEMBERS) {
    if (name in jwk) throw new PrivateKeyMaterialError(`a key carries private member "${name}"`);
  }
  const unusable = checkUsage(jwk);
  if (unusable !== undefined) return { dropped: unusable };
  const material = keyMaterial(jwk);
  if ('dropped' in material) return material;
  const alg = jwk.alg as string | undefined;
  if (alg !== undefined && !material.possible.includes(alg)) {
    return { dropped: `alg ${alg} does not fit key type ${String(jwk.kty)}` };
  }
  const algs = (alg !== undefined ? [alg] : material.possible).filter((name) =>
    algorithms.includes(name),
  );
  if (algs.length === 0) return { dropped: 'no configured algorithm uses this key' };
  return { kid: jwk.kid as string | undefined, algs, jwk: material.jwk };
}

async function importKey(
  candidate: Candidate,
  alg: string,
  id: string,
  logger: Logger | undefined,
): Promise<VerificationKey | undefined> {
  try {
    const imported = await importJWK(candidate.jwk, alg);
    if (imported instanceof Uint8Array) throw new TypeError('not an asymmetric key');
    return Object.freeze({ kid: candidate.kid, alg, key: imported, id });
  } catch (error) {
    logger?.warn(
      { kid: candidate.kid, alg, reason: error instanceof Error ? error.message : String(error) },
      'JWKS key dropped: import failed',
    );
    return undefined;
  }
}

/**
 * Builds a KeySet from a JWKS document. Bad keys are dropped with a log line; private key
 * material anywhere refuses the whole set (throws). `previous` lets unchanged keys keep their
 * identity (and skip re-import), so verified-token cache entries survive a refresh.
 */
export async function buildKeySet(
  document: unknown,
  algorithms: readonly string[],
  logger: Logger | undefined,
  previous?: KeySet,
): Promise<KeySet> {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new TypeError('a JWKS must be a JSON object');
  }
  const list = (document as Record<string, unknown>).keys;
  if (!Array.isArray(list)) throw new TypeError('a JWKS must have a "keys" array');
  if (list.length > MAX_KEYS_PER_SET) {
    throw new TypeError(`a JWKS with ${list.length} keys exceeds the limit of ${MAX_KEYS_PER_SET}`);
  }
  const reuse = new Map<string, VerificationKey>();
  for (const key of previous?.keys ?? []) reuse.set(`${key.alg} ${key.kid} ${key.id}`, key);

  const keys: VerificationKey[] = [];
  for (const entry of list) {
    const checked = checkJwk(entry, algorithms);
    if ('dropped' in checked) {
      const kid = (entry as { kid?: unknown } | null)?.kid;
      logger?.warn(
        { kid: typeof kid === 'string' ? kid : undefined, reason: checked.dropped },
        'JWKS key dropped',
      );
      continue;
    }
    const id = JSON.stringify(checked.jwk);
    for (const alg of checked.algs) {
      const key =
        reuse.get(`${alg} ${checked.kid} ${id}`) ?? (await importKey(checked, alg, id, logger));
      if (key !== undefined) keys.push(key);
    }
  }
  return new KeySet(keys);
}
