import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { JWK } from 'jose';

/** Test signing keys. Tokens are assembled by hand so that any header or payload bytes can be signed. */
export interface TestKey {
  readonly alg: 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA';
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** Public JWK as a JWKS would publish it (with kid, alg, use). */
  readonly jwk: JWK;
}

export function generateKey(
  alg: TestKey['alg'],
  kid: string,
  options: { modulusLength?: number; publicExponent?: number } = {},
): TestKey {
  const pair =
    alg === 'RS256' || alg === 'PS256'
      ? generateKeyPairSync('rsa', {
          modulusLength: options.modulusLength ?? 2048,
          publicExponent: options.publicExponent ?? 65537,
        })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : alg === 'ES384'
          ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
          : generateKeyPairSync('ed25519');
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' };
  return { alg, kid, privateKey: pair.privateKey, jwk };
}

export const b64url = (value: string | Uint8Array): string =>
  Buffer.from(value).toString('base64url');

/** Signs `signingInput` with the key for its algorithm (JWS compact form, RFC 7518 §3). */
export function signature(key: TestKey, signingInput: string, alg: string = key.alg): string {
  const data = Buffer.from(signingInput);
  switch (alg) {
    case 'RS256':
      return b64url(sign('sha256', data, key.privateKey));
    case 'PS256':
      return b64url(
        sign('sha256', data, {
          key: key.privateKey,
          padding: 6 /* RSA_PKCS1_PSS_PADDING */,
          saltLength: 32,
        }),
      );
    case 'ES256':
      return b64url(sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }));
    case 'ES384':
      return b64url(sign('sha384', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }));
    case 'EdDSA':
      return b64url(sign(null, data, key.privateKey));
    default:
      throw new Error(`test signer does not do ${alg}`);
  }
}

/** Test-only HS256: a symmetric token never verifies (JWT-02 in docs/security-cases.md). */
export function hs256(secret: Uint8Array | string, signingInput: string): string {
  return b64url(createHmac('sha256', secret).update(signingInput).digest());
}

/** A compact JWS from raw header and payload text, signed by `key`. */
export function rawToken(
  headerText: string,
  payloadText: string,
  key: TestKey,
  alg?: string,
): string {
  const input = `${b64url(headerText)}.${b64url(payloadText)}`;
  return `${input}.${signature(key, input, alg)}`;
}

/** A compact JWS from header and claims objects; the header defaults to alg and kid of `key`. */
export function token(
  key: TestKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  return rawToken(
    JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }),
    JSON.stringify(claims),
    key,
  );
}
