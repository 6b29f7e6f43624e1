/**
 * The Store: everything the co-located authorization server keeps between requests. One
 * interface, several backends (memory, SQLite, Redis), one contract test suite that every
 * backend runs (test/store/contract.ts).
 *
 * Rules every backend keeps:
 * - Times are milliseconds since the epoch, passed in by the caller (no backend reads a clock).
 * - Secrets are never stored in clear: codes, refresh tokens, sessions and client secrets arrive
 *   already hashed (`*Hash` fields); the only secret material stored is the signing keys.
 * - `consumeCode`, `takeInteraction` and `rotateRefreshToken` are atomic compare-and-set
 *   operations: under any concurrency exactly one caller wins.
 */

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The schema version this code writes; a backend refuses data written by a newer version. */
export const STORE_SCHEMA_VERSION = 4;

export interface UserRecord {
  readonly username: string;
  /** `scrypt$N$r$p$salt$hash` (src/authorization-server/passwords.ts). */
  readonly passwordHash: string;
  readonly disabled: boolean;
  /** Roles granted by the operator; `admin` opens the admin page. Absent: none. */
  readonly roles?: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A dynamically registered client (RFC 7591). Pre-registered clients live in the config. */
export interface ClientRecord {
  readonly clientId: string;
  /** SHA-256 of the client secret (base64url), for confidential clients. */
  readonly secretHash: string | undefined;
  /** The registered, validated client metadata (RFC 7591 §2). */
  readonly metadata: JsonObject;
  readonly createdAt: number;
  /** Last time the client obtained a token; undefined when never. */
  readonly lastUsedAt: number | undefined;
  /** When an operator disabled it: it is then unknown to every endpoint. Absent: enabled. */
  readonly disabledAt?: number | undefined;
}

/** A user's remembered consent for one client. */
export interface ConsentRecord {
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
  readonly grantedAt: number;
}

/** A signed-in browser session on the login and consent pages. */
export interface SessionRecord {
  readonly idHash: string;
  readonly subject: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** A pending authorization request between /oauth/authorize and the consent decision. */
export interface InteractionRecord {
  readonly id: string;
  /** SHA-256 of the browser-binding cookie that started it. */
  readonly browserHash: string;
  /** The validated authorization request. */
  readonly request: JsonObject;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface CodeRecord {
  readonly codeHash: string;
  /** Assigned when the code is issued, so a replay can revoke what the first redemption got. */
  readonly grantId: string;
  readonly clientId: string;
  readonly subject: string;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly resource: string;
  readonly scopes: readonly string[];
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly consumedAt: number | undefined;
  /** RFC 9449 §10: the thumbprint named by `dpop_jkt`; the code is redeemed only with that key. */
  readonly dpopJkt?: string;
}

export type ConsumeCodeResult =
  /** This call consumed it; the record is as it was before. */
  | { readonly status: 'consumed'; readonly code: CodeRecord }
  /** Someone consumed it earlier: a replay (RFC 6749 §4.1.2). */
  | { readonly status: 'replayed'; readonly code: CodeRecord }
  | { readonly status: 'not-found' };

/** A grant: one authorization, the family of every token issued from it. */
export interface GrantRecord {
  readonly grantId: string;
  readonly kind: 'authorization_code' | 'client_credentials' | 'jwt_bearer';
  readonly subject: string;
  readonly clientId: string;
  readonly resource: string;
  readonly scopes: readonly string[];
  readonly createdAt: number;
  /** Absolute end of the family: no refresh after it. */
  readonly expiresAt: number;
  readonly revokedAt: number | undefined;
}

/** A grant as operators and the account page list it. */
export interface GrantListing extends GrantRecord {
  /** When its family last got a token (the code redemption or the latest refresh). */
  readonly lastUsedAt: number;
}

/** Which grants to list; every field narrows. */
export interface GrantFilter {
  readonly subject?: string;
  readonly clientId?: string;
  /** Only grants neither revoked nor past their absolute end at this time. */
  readonly liveAt?: number;
}

export interface AccessTokenRecord {
  readonly jti: string;
  readonly grantId: string;
  readonly clientId: string;
  readonly expiresAt: number;
  readonly revokedAt: number | undefined;
}

export interface RefreshTokenRecord {
  readonly tokenHash: string;
  readonly grantId: string;
  readonly clientId: string;
  readonly subject: string;
  readonly resource: string;
  readonly scopes: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** When it was exchanged for its successor; undefined while it is the current token. */
  readonly rotatedAt: number | undefined;
  readonly successorHash: string | undefined;
  /**
   * The successor token response, encrypted under a key derived from this token, kept so that a
   * retry within the grace window gets the same pair (only the holder of this token can open it).
   */
  readonly graceBlob: string | undefined;
  /** RFC 9449 §5: a public client's refresh token is bound to its DPoP key (thumbprint). */
  readonly dpopJkt?: string;
}

export interface RotateRefreshInput {
  readonly tokenHash: string;
  readonly clientId: string;
  readonly now: number;
  /** A retry with the just-rotated token within this window returns the same successor. */
  readonly graceMs: number;
  readonly successor: RefreshTokenRecord;
  readonly accessToken: AccessTokenRecord;
  readonly graceBlob: string;
}

export type RotateRefreshResult =
  | { readonly status: 'rotated'; readonly previous: RefreshTokenRecord }
  /** A retry within the grace window: the successor issued then, still unused. */
  | { readonly status: 'grace'; readonly graceBlob: string; readonly previous: RefreshTokenRecord }
  /** Reuse of a rotated token: the whole family has been revoked by this call. */
  | { readonly status: 'reused'; readonly grantId: string }
  | { readonly status: 'not-found' }
  | { readonly status: 'wrong-client' }
  | { readonly status: 'revoked' }
  | { readonly status: 'expired' };

export interface SigningKeyRecord {
  /** RFC 7638 thumbprint. */
  readonly kid: string;
  readonly alg: string;
  readonly privateJwk: JsonObject;
  readonly publicJwk: JsonObject;
  readonly createdAt: number;
  /** It signs from this time on (published before it). */
  readonly activatesAt: number;
  /** It stops signing at this time (a newer key took over). */
  readonly retiresAt: number | undefined;
  /** It leaves the key set at this time (its last token has expired). */
  readonly expiresAt: number | undefined;
}

/**
 * What `portcullis store migrate` carries from one backend to another: the long-lived state.
 * Codes, sessions, pending authorizations and counters live minutes, so they are left behind
 * (a sign-in in progress during a migration starts again).
 */
export interface StoreSnapshot {
  readonly users: readonly UserRecord[];
  readonly clients: readonly ClientRecord[];
  readonly consents: readonly ConsentRecord[];
  readonly grants: readonly GrantRecord[];
  readonly refreshTokens: readonly RefreshTokenRecord[];
  readonly accessTokens: readonly AccessTokenRecord[];
  readonly signingKeys: readonly SigningKeyRecord[];
  /** People who signed in at identity providers, their provider tokens still sealed. */
  readonly federatedIdentities: readonly FederatedIdentityRecord[];
}

/**
 * A person who signed in at an upstream identity provider, linked to their local subject
 * (src/authorization-server/federation/subject.ts). Their user record carries no password.
 */
export interface FederatedIdentityRecord {
  /** The local subject, derived from the provider's `iss` and `sub`. */
  readonly subject: string;
  /** The configured provider name. */
  readonly provider: string;
  readonly issuer: string;
  readonly providerSubject: string;
  /** How pages name the person: the provider's email, preferred username or name claim. */
  readonly label: string | undefined;
  /** The scopes the provider's claim rules allowed at the latest sign-in. */
  readonly allowedScopes: readonly string[];
  /**
   * The person's tokens at the provider, sealed with AES-256-GCM under a key from the
   * configuration (federation/token-vault.ts); undefined when none are kept.
   */
  readonly sealedTokens: string | undefined;
  readonly updatedAt: number;
}

export interface Store {
  readonly backend: string;
  /** The schema version of the data this store holds. */
  schemaVersion(): Promise<number>;

  putUser(user: UserRecord): Promise<void>;
  getUser(username: string): Promise<UserRecord | undefined>;
  /** Every local user, by username. */
  listUsers(): Promise<UserRecord[]>;

  /** True when a user with a password (not a federated identity) exists. */
  hasLocalUsers(): Promise<boolean>;

  putFederatedIdentity(identity: FederatedIdentityRecord): Promise<void>;
  getFederatedIdentity(subject: string): Promise<FederatedIdentityRecord | undefined>;
  /**
   * Replaces the sealed provider tokens only while they are still `expected` (compare-and-set:
   * of two concurrent refreshes one wins). False when they changed or the identity is gone.
   */
  replaceProviderTokens(
    subject: string,
    expected: string | undefined,
    sealed: string | undefined,
    now: number,
  ): Promise<boolean>;

  putClient(client: ClientRecord): Promise<void>;
  getClient(clientId: string): Promise<ClientRecord | undefined>;
  touchClient(clientId: string, now: number): Promise<void>;
  /** Every dynamically registered client, oldest first. */
  listClients(): Promise<ClientRecord[]>;
  /** Disables (a time) or re-enables (undefined) a registered client. False when unknown. */
  setClientDisabled(clientId: string, disabledAt: number | undefined): Promise<boolean>;
  /** Deletes a registered client. False when unknown. */
  deleteClient(clientId: string): Promise<boolean>;
  countClients(): Promise<number>;
  /** Deletes clients never used and created before `neverUsedBefore`, or last used before `lastUsedBefore`. */
  pruneClients(neverUsedBefore: number, lastUsedBefore: number): Promise<number>;

  putConsent(consent: ConsentRecord): Promise<void>;
  getConsent(subject: string, clientId: string): Promise<ConsentRecord | undefined>;
  listConsents(subject: string): Promise<ConsentRecord[]>;
  deleteConsent(subject: string, clientId: string): Promise<boolean>;

  putSession(session: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;

  putInteraction(interaction: InteractionRecord): Promise<void>;
  getInteraction(id: string): Promise<InteractionRecord | undefined>;
  /** Atomically reads and deletes: exactly one caller gets the record. */
  takeInteraction(id: string): Promise<InteractionRecord | undefined>;

  putCode(code: CodeRecord): Promise<void>;
  /** Atomically marks the code consumed; exactly one caller gets `consumed`. */
  consumeCode(codeHash: string, now: number): Promise<ConsumeCodeResult>;

  /** Inserts a grant; if it was already revoked (a tombstone), it stays revoked. */
  putGrant(grant: GrantRecord): Promise<void>;
  getGrant(grantId: string): Promise<GrantRecord | undefined>;
  /** Revokes a grant and so every token of its family; creates a tombstone when unknown. True when newly revoked. */
  revokeGrant(grantId: string, now: number): Promise<boolean>;
  /** Revokes every grant of a subject for a client (consent withdrawn). Returns how many. */
  revokeGrantsFor(subject: string, clientId: string, now: number): Promise<number>;
  /** Grants matching the filter (tombstones excluded), newest first, with their last use. */
  listGrants(filter: GrantFilter): Promise<GrantListing[]>;

  putAccessToken(token: AccessTokenRecord): Promise<void>;
  getAccessToken(jti: string): Promise<AccessTokenRecord | undefined>;
  revokeAccessToken(jti: string, now: number): Promise<void>;
  /** True when the token itself or its grant was revoked. Unknown ids are not revoked. */
  isAccessTokenRevoked(jti: string): Promise<boolean>;

  putRefreshToken(token: RefreshTokenRecord): Promise<void>;
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * The refresh-token compare-and-set (RFC 9700 §4.14.2), in this order: unknown → not-found;
   * another client's → wrong-client; family revoked → revoked; already rotated → grace when
   * within `graceMs` of the rotation and the successor is unused, else the family is revoked
   * (reused); expired (token or family) → expired; else the token is marked rotated and the
   * successor and its access token are stored (rotated).
   */
  rotateRefreshToken(input: RotateRefreshInput): Promise<RotateRefreshResult>;

  putSigningKey(key: SigningKeyRecord): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  updateSigningKey(
    kid: string,
    changes: { readonly retiresAt?: number; readonly expiresAt?: number },
  ): Promise<void>;

  /** Fixed-window counter: adds one and returns the count in the window containing `now`. */
  incrementCounter(key: string, windowMs: number, now: number): Promise<number>;
  /** The count in the window containing `now`, without adding. */
  readCounter(key: string, windowMs: number, now: number): Promise<number>;
  /**
   * Optional, for backends shared by several processes: records `key` until `untilMs` unless it
   * is already held past `now`, as one atomic set-if-absent; true when this call recorded it.
   * Replay memory (src/store/replay.ts) uses it when present (one entry per identifier, kept
   * only as long as asked), else two fixed-window counters.
   */
  rememberOnce?(key: string, untilMs: number, now: number): Promise<boolean>;

  /** Deletes what can no longer matter (expired codes, sessions, tokens, keys). Returns how many rows. */
  purgeExpired(now: number): Promise<number>;

  /** Every long-lived record, for migration (an offline operation: it may scan everything). */
  exportSnapshot(): Promise<StoreSnapshot>;
  /**
   * Writes every record of a snapshot, replacing records with the same key, so importing the same
   * snapshot twice leaves the same state. A grant revoked here stays revoked.
   */
  importSnapshot(snapshot: StoreSnapshot): Promise<void>;
  close(): Promise<void>;
}

/** How long consumed codes are kept after expiry, so a late replay still revokes its grant. */
export const CODE_REPLAY_MEMORY_MS = 60 * 60 * 1000;
