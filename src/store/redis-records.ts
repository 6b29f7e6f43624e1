import type {
  AccessTokenRecord,
  ClientRecord,
  CodeRecord,
  ConsentRecord,
  FederatedIdentityRecord,
  GrantRecord,
  InteractionRecord,
  JsonObject,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
} from './types.ts';

/**
 * How each record is laid out in Redis: a hash of strings, one field per column of the SQLite
 * schema (the same names), an absent field for an undefined value; lists and JSON objects as
 * JSON text. Scripts read and write the same fields (src/store/redis-scripts.ts).
 */

export type Hash = Record<string, string>;
export type Fields = (string | number)[];

/** Field pairs of the defined values, for HSET. */
export function fields(record: Record<string, string | number | boolean | undefined>): Fields {
  const out: Fields = [];
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue;
    out.push(name, typeof value === 'boolean' ? (value ? '1' : '0') : value);
  }
  return out;
}

/** HGETALL as a flat array (from a script) to an object. */
export function pairs(flat: unknown): Hash {
  const out: Hash = {};
  if (!Array.isArray(flat)) return out;
  for (let index = 0; index + 1 < flat.length; index += 2) {
    out[String(flat[index])] = String(flat[index + 1]);
  }
  return out;
}

export const present = (hash: Hash): boolean => Object.keys(hash).length > 0;
export const num = (hash: Hash, name: string): number => Number(hash[name]);
export const optionalNum = (hash: Hash, name: string): number | undefined =>
  hash[name] === undefined ? undefined : Number(hash[name]);
export const strings = (hash: Hash, name: string): string[] =>
  JSON.parse(hash[name] ?? '[]') as string[];
export const json = (hash: Hash, name: string): JsonObject =>
  JSON.parse(hash[name] ?? '{}') as JsonObject;

/** RFC 9449: the DPoP key thumbprint a code or refresh token is bound to; absent when unbound. */
const withJkt = (h: Hash): { dpopJkt?: string } =>
  h.dpop_jkt === undefined ? {} : { dpopJkt: h.dpop_jkt };

export const toUser = (h: Hash): UserRecord => ({
  username: h.username ?? '',
  passwordHash: h.password_hash ?? '',
  disabled: h.disabled === '1',
  // Absent in records written by schema 1: no roles.
  roles: strings(h, 'roles'),
  createdAt: num(h, 'created_at'),
  updatedAt: num(h, 'updated_at'),
});
/** Every field but created_at (putUser keeps the first one); roles always written, so a reset replaces them. */
export const userFields = (user: UserRecord) =>
  fields({
    username: user.username,
    password_hash: user.passwordHash,
    disabled: user.disabled,
    roles: JSON.stringify(user.roles ?? []),
    updated_at: user.updatedAt,
  });

export const toFederatedIdentity = (h: Hash): FederatedIdentityRecord => ({
  subject: h.subject ?? '',
  provider: h.provider ?? '',
  issuer: h.issuer ?? '',
  providerSubject: h.provider_subject ?? '',
  label: h.label,
  allowedScopes: strings(h, 'allowed_scopes'),
  sealedTokens: h.sealed_tokens,
  updatedAt: num(h, 'updated_at'),
});
export const federatedIdentityFields = (identity: FederatedIdentityRecord) =>
  fields({
    subject: identity.subject,
    provider: identity.provider,
    issuer: identity.issuer,
    provider_subject: identity.providerSubject,
    label: identity.label,
    allowed_scopes: JSON.stringify(identity.allowedScopes),
    sealed_tokens: identity.sealedTokens,
    updated_at: identity.updatedAt,
  });

export const toClient = (h: Hash): ClientRecord => ({
  clientId: h.client_id ?? '',
  secretHash: h.secret_hash,
  metadata: json(h, 'metadata'),
  createdAt: num(h, 'created_at'),
  lastUsedAt: optionalNum(h, 'last_used_at'),
  // Only a disabled client carries the field (ClientRecord: absent means enabled).
  ...(h.disabled_at === undefined ? {} : { disabledAt: num(h, 'disabled_at') }),
});
export const clientFields = (client: ClientRecord) =>
  fields({
    client_id: client.clientId,
    secret_hash: client.secretHash,
    metadata: JSON.stringify(client.metadata),
    created_at: client.createdAt,
    last_used_at: client.lastUsedAt,
    disabled_at: client.disabledAt,
  });

export const toConsent = (h: Hash): ConsentRecord => ({
  subject: h.subject ?? '',
  clientId: h.client_id ?? '',
  scopes: strings(h, 'scopes'),
  resources: strings(h, 'resources'),
  grantedAt: num(h, 'granted_at'),
});
export const consentFields = (consent: ConsentRecord) =>
  fields({
    subject: consent.subject,
    client_id: consent.clientId,
    scopes: JSON.stringify(consent.scopes),
    resources: JSON.stringify(consent.resources),
    granted_at: consent.grantedAt,
  });

export const toSession = (h: Hash): SessionRecord => ({
  idHash: h.id_hash ?? '',
  subject: h.subject ?? '',
  createdAt: num(h, 'created_at'),
  expiresAt: num(h, 'expires_at'),
});

export const toInteraction = (h: Hash): InteractionRecord => ({
  id: h.id ?? '',
  browserHash: h.browser_hash ?? '',
  request: json(h, 'request'),
  createdAt: num(h, 'created_at'),
  expiresAt: num(h, 'expires_at'),
});

export const toCode = (h: Hash): CodeRecord => ({
  codeHash: h.code_hash ?? '',
  grantId: h.grant_id ?? '',
  clientId: h.client_id ?? '',
  subject: h.subject ?? '',
  redirectUri: h.redirect_uri ?? '',
  codeChallenge: h.code_challenge ?? '',
  resource: h.resource ?? '',
  scopes: strings(h, 'scopes'),
  createdAt: num(h, 'created_at'),
  expiresAt: num(h, 'expires_at'),
  consumedAt: optionalNum(h, 'consumed_at'),
  ...withJkt(h),
});

export const toGrant = (h: Hash): GrantRecord => ({
  grantId: h.grant_id ?? '',
  kind: (h.kind ?? 'authorization_code') as GrantRecord['kind'],
  subject: h.subject ?? '',
  clientId: h.client_id ?? '',
  resource: h.resource ?? '',
  scopes: strings(h, 'scopes'),
  createdAt: num(h, 'created_at'),
  expiresAt: num(h, 'expires_at'),
  revokedAt: optionalNum(h, 'revoked_at'),
});
export const grantFields = (grant: GrantRecord) =>
  fields({
    grant_id: grant.grantId,
    kind: grant.kind,
    subject: grant.subject,
    client_id: grant.clientId,
    resource: grant.resource,
    scopes: JSON.stringify(grant.scopes),
    created_at: grant.createdAt,
    expires_at: grant.expiresAt,
    revoked_at: grant.revokedAt,
  });

export const toAccessToken = (h: Hash): AccessTokenRecord => ({
  jti: h.jti ?? '',
  grantId: h.grant_id ?? '',
  clientId: h.client_id ?? '',
  expiresAt: num(h, 'expires_at'),
  revokedAt: optionalNum(h, 'revoked_at'),
});
export const accessTokenFields = (token: AccessTokenRecord) =>
  fields({
    jti: token.jti,
    grant_id: token.grantId,
    client_id: token.clientId,
    expires_at: token.expiresAt,
    revoked_at: token.revokedAt,
  });

export const toRefreshToken = (h: Hash): RefreshTokenRecord => ({
  tokenHash: h.token_hash ?? '',
  grantId: h.grant_id ?? '',
  clientId: h.client_id ?? '',
  subject: h.subject ?? '',
  resource: h.resource ?? '',
  scopes: strings(h, 'scopes'),
  issuedAt: num(h, 'issued_at'),
  expiresAt: num(h, 'expires_at'),
  rotatedAt: optionalNum(h, 'rotated_at'),
  successorHash: h.successor_hash,
  graceBlob: h.grace_blob,
  ...withJkt(h),
});
export const refreshTokenFields = (token: RefreshTokenRecord) =>
  fields({
    token_hash: token.tokenHash,
    grant_id: token.grantId,
    client_id: token.clientId,
    subject: token.subject,
    resource: token.resource,
    scopes: JSON.stringify(token.scopes),
    issued_at: token.issuedAt,
    expires_at: token.expiresAt,
    rotated_at: token.rotatedAt,
    successor_hash: token.successorHash,
    grace_blob: token.graceBlob,
    dpop_jkt: token.dpopJkt,
  });

export const toSigningKey = (h: Hash): SigningKeyRecord => ({
  kid: h.kid ?? '',
  alg: h.alg ?? '',
  privateJwk: json(h, 'private_jwk'),
  publicJwk: json(h, 'public_jwk'),
  createdAt: num(h, 'created_at'),
  activatesAt: num(h, 'activates_at'),
  retiresAt: optionalNum(h, 'retires_at'),
  expiresAt: optionalNum(h, 'expires_at'),
});
export const signingKeyFields = (key: SigningKeyRecord) =>
  fields({
    kid: key.kid,
    alg: key.alg,
    private_jwk: JSON.stringify(key.privateJwk),
    public_jwk: JSON.stringify(key.publicJwk),
    created_at: key.createdAt,
    activates_at: key.activatesAt,
    retires_at: key.retiresAt,
    expires_at: key.expiresAt,
  });

export const byActivation = (a: SigningKeyRecord, b: SigningKeyRecord) =>
  a.activatesAt - b.activatesAt || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);
