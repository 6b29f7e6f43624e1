/**
 * The SQLite schema, as numbered migrations. `PRAGMA user_version` records the version a file
 * holds; opening applies the missing migrations in one transaction, and refuses a file written by
 * a newer Portcullis (its schema is unknown here, so writing to it could corrupt it).
 */
export const MIGRATIONS: readonly string[] = [
  // 1: everything the co-located authorization server keeps.
  `
  CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
  ) STRICT;
  CREATE TABLE consents (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
  ) STRICT;
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
  ) STRICT;
  CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  CREATE INDEX grants_by_subject_client ON grants (subject, client_id);
  CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    resource TEXT NOT NULL,
    scopes TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    successor_hash TEXT,
    grace_blob TEXT
  ) STRICT;
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    retires_at INTEGER,
    expires_at INTEGER
  ) STRICT;
  CREATE TABLE counters (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    count INTEGER NOT NULL
  ) STRICT;
  `,
  // 2: operator tools: user roles (admin page), disabling a registered client.
  `
  ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE clients ADD COLUMN disabled_at INTEGER;
  CREATE INDEX grants_by_client ON grants (client_id);
  CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
  `,
  // 3: people signed in at upstream identity providers, their provider tokens sealed.
  `
  CREATE TABLE federated_identities (
    subject TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    provider_subject TEXT NOT NULL,
    label TEXT,
    allowed_scopes TEXT NOT NULL,
    sealed_tokens TEXT,
    updated_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 4: DPoP (RFC 9449): the key a code (dpop_jkt, §10) or a public client's refresh token (§5)
  // is bound to.
  `
  ALTER TABLE codes ADD COLUMN dpop_jkt TEXT;
  ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
  `,
];
