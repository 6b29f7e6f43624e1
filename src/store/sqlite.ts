import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { StoreSchemaError } from './errors.ts';
import { MIGRATIONS } from './sqlite-schema.ts';
import {
  type AccessTokenRecord,
  type ClientRecord,
  CODE_REPLAY_MEMORY_MS,
  type CodeRecord,
  type ConsentRecord,
  type ConsumeCodeResult,
  type FederatedIdentityRecord,
  type GrantFilter,
  type GrantListing,
  type GrantRecord,
  type InteractionRecord,
  type JsonObject,
  type RefreshTokenRecord,
  type RotateRefreshInput,
  type RotateRefreshResult,
  type SessionRecord,
  type SigningKeyRecord,
  STORE_SCHEMA_VERSION,
  type Store,
  type StoreSnapshot,
  type UserRecord,
} from './types.ts';

type Row = Record<string, SQLInputValue>;

export { StoreSchemaError };

const TOMBSTONE_MS = CODE_REPLAY_MEMORY_MS * 2;

const text = (row: Row, column: string): string => String(row[column]);
const num = (row: Row, column: string): number => Number(row[column]);
const optionalNum = (row: Row, column: string): number | undefined =>
  row[column] === null || row[column] === undefined ? undefined : Number(row[column]);
const optionalText = (row: Row, column: string): string | undefined =>
  row[column] === null || row[column] === undefined ? undefined : String(row[column]);
const strings = (row: Row, column: string): string[] => JSON.parse(text(row, column)) as string[];
const nullable = (value: number | string | undefined): number | string | null => value ?? null;

const toUser = (row: Row): UserRecord => ({
  username: text(row, 'username'),
  passwordHash: text(row, 'password_hash'),
  disabled: num(row, 'disabled') === 1,
  roles: strings(row, 'roles'),
  createdAt: num(row, 'created_at'),
  updatedAt: num(row, 'updated_at'),
});

const toFederatedIdentity = (row: Row): FederatedIdentityRecord => ({
  subject: text(row, 'subject'),
  provider: text(row, 'provider'),
  issuer: text(row, 'issuer'),
  providerSubject: text(row, 'provider_subject'),
  label: optionalText(row, 'label'),
  allowedScopes: strings(row, 'allowed_scopes'),
  sealedTokens: optionalText(row, 'sealed_tokens'),
  updatedAt: num(row, 'updated_at'),
});

const toClient = (row: Row): ClientRecord => ({
  clientId: text(row, 'client_id'),
  secretHash: optionalText(row, 'secret_hash'),
  metadata: JSON.parse(text(row, 'metadata')) as JsonObject,
  createdAt: num(row, 'created_at'),
  lastUsedAt: optionalNum(row, 'last_used_at'),
  // Only a disabled client carries the field (ClientRecord: absent means enabled).
  ...(row.disabled_at === null || row.disabled_at === undefined
    ? {}
    : { disabledAt: num(row, 'disabled_at') }),
});

const toConsent = (row: Row): ConsentRecord => ({
  subject: text(row, 'subject'),
  clientId: text(row, 'client_id'),
  scopes: strings(row, 'scopes'),
  resources: strings(row, 'resources'),
  grantedAt: num(row, 'granted_at'),
});

const toSession = (row: Row): SessionRecord => ({
  idHash: text(row, 'id_hash'),
  subject: text(row, 'subject'),
  createdAt: num(row, 'created_at'),
  expiresAt: num(row, 'expires_at'),
});

const toInteraction = (row: Row): InteractionRecord => ({
  id: text(row, 'id'),
  browserHash: text(row, 'browser_hash'),
  request: JSON.parse(text(row, 'request')) as JsonObject,
  createdAt: num(row, 'created_at'),
  expiresAt: num(row, 'expires_at'),
});

/** The optional DPoP key binding, present only when set (records stay as callers wrote them). */
function withJkt(row: Row): { dpopJkt?: string } {
  const jkt = optionalText(row, 'dpop_jkt');
  return jkt === undefined ? {} : { dpopJkt: jkt };
}

const toCode = (row: Row): CodeRecord => ({
  codeHash: text(row, 'code_hash'),
  grantId: text(row, 'grant_id'),
  clientId: text(row, 'client_id'),
  subject: text(row, 'subject'),
  redirectUri: text(row, 'redirect_uri'),
  codeChallenge: text(row, 'code_challenge'),
  resource: text(row, 'resource'),
  scopes: strings(row, 'scopes'),
  createdAt: num(row, 'created_at'),
  expiresAt: num(row, 'expires_at'),
  consumedAt: optionalNum(row, 'consumed_at'),
  ...withJkt(row),
});

const toGrant = (row: Row): GrantRecord => ({
  grantId: text(row, 'grant_id'),
  kind: text(row, 'kind') as GrantRecord['kind'],
  subject: text(row, 'subject'),
  clientId: text(row, 'client_id'),
  resource: text(row, 'resource'),
  scopes: strings(row, 'scopes'),
  createdAt: num(row, 'created_at'),
  expiresAt: num(row, 'expires_at'),
  revokedAt: optionalNum(row, 'revoked_at'),
});

const toAccessToken = (row: Row): AccessTokenRecord => ({
  jti: text(row, 'jti'),
  grantId: text(row, 'grant_id'),
  clientId: text(row, 'client_id'),
  expiresAt: num(row, 'expires_at'),
  revokedAt: optionalNum(row, 'revoked_at'),
});

const toRefreshToken = (row: Row): RefreshTokenRecord => ({
  tokenHash: text(row, 'token_hash'),
  grantId: text(row, 'grant_id'),
  clientId: text(row, 'client_id'),
  subject: text(row, 'subject'),
  resource: text(row, 'resource'),
  scopes: strings(row, 'scopes'),
  issuedAt: num(row, 'issued_at'),
  expiresAt: num(row, 'expires_at'),
  rotatedAt: optionalNum(row, 'rotated_at'),
  successorHash: optionalText(row, 'successor_hash'),
  graceBlob: optionalText(row, 'grace_blob'),
  ...withJkt(row),
});

const toSigningKey = (row: Row): SigningKeyRecord => ({
  kid: text(row, 'kid'),
  alg: text(row, 'alg'),
  privateJwk: JSON.parse(text(row, 'private_jwk')) as JsonObject,
  publicJwk: JSON.parse(text(row, 'public_jwk')) as JsonObject,
  createdAt: num(row, 'created_at'),
  activatesAt: num(row, 'activates_at'),
  retiresAt: optionalNum(row, 'retires_at'),
  expiresAt: optionalNum(row, 'expires_at'),
});

export interface SqliteStoreOptions {
  /** Milliseconds a writer waits for another process's lock before failing. Default 5000. */
  readonly busyTimeoutMs?: number;
}

/**
 * The embedded store on `node:sqlite` (no native build). WAL journal, so readers never wait for
 * the writer. Every compare-and-set runs in a `BEGIN IMMEDIATE` transaction: the write lock is
 * taken before the read, so two processes sharing the file (the server and `portcullis keys
 * rotate`, say) cannot both win; within one process the synchronous driver cannot interleave.
 */
export class SqliteStore implements Store {
  readonly backend = 'sqlite';
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    }
    // Signing keys and hashes live here: owner-only, like any credential file (SQLite gives its
    // -wal and -shm files the same mode).
    if (path !== ':memory:' && !existsSync(path)) closeSync(openSync(path, 'wx', 0o600));
    this.db = new DatabaseSync(path);
    this.db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    if (path !== ':memory:') this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.migrate();
  }

  private migrate(): void {
    this.transaction(() => {
      const found = num(this.db.prepare('PRAGMA user_version').get() as Row, 'user_version');
      if (found > STORE_SCHEMA_VERSION) {
        throw new StoreSchemaError(
          `the database holds schema version ${found}, newer than this Portcullis understands (${STORE_SCHEMA_VERSION}); upgrade Portcullis`,
        );
      }
      for (let version = found; version < MIGRATIONS.length; version++) {
        this.db.exec(MIGRATIONS[version] ?? '');
      }
      if (found < MIGRATIONS.length) this.db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    });
  }

  private statement(sql: string): StatementSync {
    let prepared = this.statements.get(sql);
    if (prepared === undefined) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  private get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.statement(sql).get(...params) as Row | undefined;
  }

  private all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.statement(sql).all(...params) as Row[];
  }

  private run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.statement(sql).run(...params).changes);
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async schemaVersion(): Promise<number> {
    return num(this.db.prepare('PRAGMA user_version').get() as Row, 'user_version');
  }

  async putUser(user: UserRecord): Promise<void> {
    this.run(
      `INSERT INTO users (username, password_hash, disabled, roles, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
         disabled = excluded.disabled, roles = excluded.roles, updated_at = excluded.updated_at`,
      user.username,
      user.passwordHash,
      user.disabled ? 1 : 0,
      JSON.stringify(user.roles ?? []),
      user.createdAt,
      user.updatedAt,
    );
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const row = this.get('SELECT * FROM users WHERE username = ?', username);
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.all('SELECT * FROM users ORDER BY username').map(toUser);
  }

  async hasLocalUsers(): Promise<boolean> {
    const row = this.get(
      `SELECT 1 AS found FROM users
       WHERE username NOT IN (SELECT subject FROM federated_identities) LIMIT 1`,
    );
    return row !== undefined;
  }

  async putFederatedIdentity(identity: FederatedIdentityRecord): Promise<void> {
    this.insertFederatedIdentity(identity);
  }

  async getFederatedIdentity(subject: string): Promise<FederatedIdentityRecord | undefined> {
    const row = this.get('SELECT * FROM federated_identities WHERE subject = ?', subject);
    return row === undefined ? undefined : toFederatedIdentity(row);
  }

  private insertFederatedIdentity(identity: FederatedIdentityRecord): void {
    this.run(
      `INSERT OR REPLACE INTO federated_identities
         (subject, provider, issuer, provider_subject, label, allowed_scopes, sealed_tokens,
          updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      identity.subject,
      identity.provider,
      identity.issuer,
      identity.providerSubject,
      identity.label ?? null,
      JSON.stringify(identity.allowedScopes),
      identity.sealedTokens ?? null,
      identity.updatedAt,
    );
  }

  async replaceProviderTokens(
    subject: string,
    expected: string | undefined,
    sealed: string | undefined,
    now: number,
  ): Promise<boolean> {
    return (
      this.run(
        `UPDATE federated_identities SET sealed_tokens = ?, updated_at = ?
         WHERE subject = ? AND sealed_tokens IS ?`,
        sealed ?? null,
        now,
        subject,
        expected ?? null,
      ) === 1
    );
  }

  async putClient(client: ClientRecord): Promise<void> {
    this.run(
      `INSERT OR REPLACE INTO clients (client_id, secret_hash, metadata, created_at, last_used_at,
         disabled_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
      client.clientId,
      nullable(client.secretHash),
      JSON.stringify(client.metadata),
      client.createdAt,
      nullable(client.lastUsedAt),
      nullable(client.disabledAt),
    );
  }

  async listClients(): Promise<ClientRecord[]> {
    return this.all('SELECT * FROM clients ORDER BY created_at, client_id').map(toClient);
  }

  async setClientDisabled(clientId: string, disabledAt: number | undefined): Promise<boolean> {
    return (
      this.run(
        'UPDATE clients SET disabled_at = ? WHERE client_id = ?',
        nullable(disabledAt),
        clientId,
      ) === 1
    );
  }

  async deleteClient(clientId: string): Promise<boolean> {
    return this.run('DELETE FROM clients WHERE client_id = ?', clientId) === 1;
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const row = this.get('SELECT * FROM clients WHERE client_id = ?', clientId);
    return row && toClient(row);
  }

  async touchClient(clientId: string, now: number): Promise<void> {
    this.run('UPDATE clients SET last_used_at = ? WHERE client_id = ?', now, clientId);
  }

  async countClients(): Promise<number> {
    return num(this.get('SELECT count(*) AS n FROM clients') ?? { n: 0 }, 'n');
  }

  async pruneClients(neverUsedBefore: number, lastUsedBefore: number): Promise<number> {
    return this.run(
      `DELETE FROM clients WHERE (last_used_at IS NULL AND created_at < ?)
         OR (last_used_at IS NOT NULL AND last_used_at < ?)`,
      neverUsedBefore,
      lastUsedBefore,
    );
  }

  async putConsent(consent: ConsentRecord): Promise<void> {
    this.run(
      `INSERT OR REPLACE INTO consents (subject, client_id, scopes, resources, granted_at)
       VALUES (?, ?, ?, ?, ?)`,
      consent.subject,
      consent.clientId,
      JSON.stringify(consent.scopes),
      JSON.stringify(consent.resources),
      consent.grantedAt,
    );
  }

  async getConsent(subject: string, clientId: string): Promise<ConsentRecord | undefined> {
    const row = this.get(
      'SELECT * FROM consents WHERE subject = ? AND client_id = ?',
      subject,
      clientId,
    );
    return row && toConsent(row);
  }

  async listConsents(subject: string): Promise<ConsentRecord[]> {
    return this.all('SELECT * FROM consents WHERE subject = ? ORDER BY client_id', subject).map(
      toConsent,
    );
  }

  async deleteConsent(subject: string, clientId: string): Promise<boolean> {
    return (
      this.run('DELETE FROM consents WHERE subject = ? AND client_id = ?', subject, clientId) > 0
    );
  }

  async putSession(session: SessionRecord): Promise<void> {
    this.run(
      'INSERT OR REPLACE INTO sessions (id_hash, subject, created_at, expires_at) VALUES (?, ?, ?, ?)',
      session.idHash,
      session.subject,
      session.createdAt,
      session.expiresAt,
    );
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const row = this.get('SELECT * FROM sessions WHERE id_hash = ?', idHash);
    return row && toSession(row);
  }

  async deleteSession(idHash: string): Promise<void> {
    this.run('DELETE FROM sessions WHERE id_hash = ?', idHash);
  }

  async putInteraction(interaction: InteractionRecord): Promise<void> {
    this.run(
      `INSERT OR REPLACE INTO interactions (id, browser_hash, request, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?)`,
      interaction.id,
      interaction.browserHash,
      JSON.stringify(interaction.request),
      interaction.createdAt,
      interaction.expiresAt,
    );
  }

  async getInteraction(id: string): Promise<InteractionRecord | undefined> {
    const row = this.get('SELECT * FROM interactions WHERE id = ?', id);
    return row && toInteraction(row);
  }

  async takeInteraction(id: string): Promise<InteractionRecord | undefined> {
    // DELETE … RETURNING is one statement: only one caller sees the row.
    const row = this.get('DELETE FROM interactions WHERE id = ? RETURNING *', id);
    return row && toInteraction(row);
  }

  async putCode(code: CodeRecord): Promise<void> {
    this.run(
      `INSERT INTO codes (code_hash, grant_id, client_id, subject, redirect_uri, code_challenge,
         resource, scopes, created_at, expires_at, consumed_at, dpop_jkt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      code.codeHash,
      code.grantId,
      code.clientId,
      code.subject,
      code.redirectUri,
      code.codeChallenge,
      code.resource,
      JSON.stringify(code.scopes),
      code.createdAt,
      code.expiresAt,
      nullable(code.consumedAt),
      nullable(code.dpopJkt),
    );
  }

  async consumeCode(codeHash: string, now: number): Promise<ConsumeCodeResult> {
    return this.transaction((): ConsumeCodeResult => {
      const row = this.get('SELECT * FROM codes WHERE code_hash = ?', codeHash);
      if (row === undefined) return { status: 'not-found' };
      const code = toCode(row);
      if (code.consumedAt !== undefined) return { status: 'replayed', code };
      const changed = this.run(
        'UPDATE codes SET consumed_at = ? WHERE code_hash = ? AND consumed_at IS NULL',
        now,
        codeHash,
      );
      return changed === 1 ? { status: 'consumed', code } : { status: 'replayed', code };
    });
  }

  async putGrant(grant: GrantRecord): Promise<void> {
    this.writeGrant(grant);
  }

  /** One grant row; a revocation that arrived first (a code replay racing the first redemption) wins. */
  private writeGrant(grant: GrantRecord): void {
    this.run(
      `INSERT INTO grants (grant_id, kind, subject, client_id, resource, scopes, created_at,
         expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (grant_id) DO UPDATE SET kind = excluded.kind, subject = excluded.subject,
         client_id = excluded.client_id, resource = excluded.resource, scopes = excluded.scopes,
         created_at = excluded.created_at, expires_at = excluded.expires_at,
         revoked_at = coalesce(grants.revoked_at, excluded.revoked_at)`,
      grant.grantId,
      grant.kind,
      grant.subject,
      grant.clientId,
      grant.resource,
      JSON.stringify(grant.scopes),
      grant.createdAt,
      grant.expiresAt,
      nullable(grant.revokedAt),
    );
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    const row = this.get('SELECT * FROM grants WHERE grant_id = ?', grantId);
    return row && toGrant(row);
  }

  async revokeGrant(grantId: string, now: number): Promise<boolean> {
    return this.transaction(() => this.revokeGrantNow(grantId, now));
  }

  private revokeGrantNow(grantId: string, now: number): boolean {
    const changed = this.run(
      'UPDATE grants SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL',
      now,
      grantId,
    );
    if (changed === 1) return true;
    const inserted = this.run(
      `INSERT INTO grants (grant_id, kind, subject, client_id, resource, scopes, created_at,
         expires_at, revoked_at)
       VALUES (?, 'authorization_code', '', '', '', '[]', ?, ?, ?)
       ON CONFLICT (grant_id) DO NOTHING`,
      grantId,
      now,
      now + TOMBSTONE_MS,
      now,
    );
    return inserted === 1;
  }

  async revokeGrantsFor(subject: string, clientId: string, now: number): Promise<number> {
    return this.run(
      'UPDATE grants SET revoked_at = ? WHERE subject = ? AND client_id = ? AND revoked_at IS NULL',
      now,
      subject,
      clientId,
    );
  }

  async listGrants(filter: GrantFilter): Promise<GrantListing[]> {
    // Tombstones (revocations of unknown grants) have no client and are not listed.
    const rows = this.all(
      `SELECT g.*, max(g.created_at, coalesce(max(r.issued_at), 0)) AS last_used_at
       FROM grants g LEFT JOIN refresh_tokens r ON r.grant_id = g.grant_id
       WHERE g.client_id != ''
         AND (?1 IS NULL OR g.subject = ?1)
         AND (?2 IS NULL OR g.client_id = ?2)
         AND (?3 IS NULL OR (g.revoked_at IS NULL AND g.expires_at > ?3))
       GROUP BY g.grant_id
       ORDER BY g.created_at DESC, g.grant_id`,
      nullable(filter.subject),
      nullable(filter.clientId),
      nullable(filter.liveAt),
    );
    return rows.map((row) => ({ ...toGrant(row), lastUsedAt: num(row, 'last_used_at') }));
  }

  async putAccessToken(token: AccessTokenRecord): Promise<void> {
    this.insertAccessToken(token);
  }

  private insertAccessToken(token: AccessTokenRecord): void {
    this.run(
      `INSERT OR REPLACE INTO access_tokens (jti, grant_id, client_id, expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?)`,
      token.jti,
      token.grantId,
      token.clientId,
      token.expiresAt,
      nullable(token.revokedAt),
    );
  }

  async getAccessToken(jti: string): Promise<AccessTokenRecord | undefined> {
    const row = this.get('SELECT * FROM access_tokens WHERE jti = ?', jti);
    return row && toAccessToken(row);
  }

  async revokeAccessToken(jti: string, now: number): Promise<void> {
    this.run(
      'UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL',
      now,
      jti,
    );
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    const row = this.get(
      `SELECT a.revoked_at AS token_revoked, g.revoked_at AS grant_revoked
       FROM access_tokens a LEFT JOIN grants g ON g.grant_id = a.grant_id WHERE a.jti = ?`,
      jti,
    );
    if (row === undefined) return false;
    return row.token_revoked !== null || row.grant_revoked !== null;
  }

  async putRefreshToken(token: RefreshTokenRecord): Promise<void> {
    this.insertRefreshToken(token);
  }

  private insertRefreshToken(token: RefreshTokenRecord): void {
    this.run(
      `INSERT INTO refresh_tokens (token_hash, grant_id, client_id, subject, resource, scopes,
         issued_at, expires_at, rotated_at, successor_hash, grace_blob, dpop_jkt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      token.tokenHash,
      token.grantId,
      token.clientId,
      token.subject,
      token.resource,
      JSON.stringify(token.scopes),
      token.issuedAt,
      token.expiresAt,
      nullable(token.rotatedAt),
      nullable(token.successorHash),
      nullable(token.graceBlob),
      nullable(token.dpopJkt),
    );
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const row = this.get('SELECT * FROM refresh_tokens WHERE token_hash = ?', tokenHash);
    return row && toRefreshToken(row);
  }

  async rotateRefreshToken(input: RotateRefreshInput): Promise<RotateRefreshResult> {
    return this.transaction((): RotateRefreshResult => {
      const row = this.get('SELECT * FROM refresh_tokens WHERE token_hash = ?', input.tokenHash);
      if (row === undefined) return { status: 'not-found' };
      const old = toRefreshToken(row);
      if (old.clientId !== input.clientId) return { status: 'wrong-client' };
      const grantRow = this.get('SELECT * FROM grants WHERE grant_id = ?', old.grantId);
      const grant = grantRow && toGrant(grantRow);
      if (grant === undefined || grant.revokedAt !== undefined) return { status: 'revoked' };
      if (old.rotatedAt !== undefined) {
        const successorRow =
          old.successorHash === undefined
            ? undefined
            : this.get(
                'SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?',
                old.successorHash,
              );
        const successorUnused = successorRow !== undefined && successorRow.rotated_at === null;
        const withinGrace = input.now - old.rotatedAt <= input.graceMs;
        if (withinGrace && successorUnused && old.graceBlob !== undefined) {
          return { status: 'grace', graceBlob: old.graceBlob, previous: old };
        }
        this.revokeGrantNow(old.grantId, input.now);
        return { status: 'reused', grantId: old.grantId };
      }
      if (old.expiresAt <= input.now || grant.expiresAt <= input.now) return { status: 'expired' };
      this.run(
        `UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ?, grace_blob = ?
         WHERE token_hash = ? AND rotated_at IS NULL`,
        input.now,
        input.successor.tokenHash,
        input.graceBlob,
        old.tokenHash,
      );
      this.insertRefreshToken(input.successor);
      this.insertAccessToken(input.accessToken);
      return { status: 'rotated', previous: old };
    });
  }

  async putSigningKey(key: SigningKeyRecord): Promise<void> {
    this.run(
      `INSERT OR REPLACE INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at,
         activates_at, retires_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      key.kid,
      key.alg,
      JSON.stringify(key.privateJwk),
      JSON.stringify(key.publicJwk),
      key.createdAt,
      key.activatesAt,
      nullable(key.retiresAt),
      nullable(key.expiresAt),
    );
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.all('SELECT * FROM signing_keys ORDER BY activates_at, kid').map(toSigningKey);
  }

  async updateSigningKey(
    kid: string,
    changes: { readonly retiresAt?: number; readonly expiresAt?: number },
  ): Promise<void> {
    this.run(
      `UPDATE signing_keys SET retires_at = coalesce(?, retires_at),
         expires_at = coalesce(?, expires_at) WHERE kid = ?`,
      nullable(changes.retiresAt),
      nullable(changes.expiresAt),
      kid,
    );
  }

  async incrementCounter(key: string, windowMs: number, now: number): Promise<number> {
    const windowStart = now - (now % windowMs);
    const row = this.get(
      `INSERT INTO counters (key, window_start, window_end, count) VALUES (?, ?, ?, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN counters.window_start = excluded.window_start
                      THEN counters.count + 1 ELSE 1 END,
         window_start = excluded.window_start, window_end = excluded.window_end
       RETURNING count`,
      key,
      windowStart,
      windowStart + windowMs,
    );
    return row === undefined ? 1 : num(row, 'count');
  }

  async readCounter(key: string, windowMs: number, now: number): Promise<number> {
    const windowStart = now - (now % windowMs);
    const row = this.get(
      'SELECT count FROM counters WHERE key = ? AND window_start = ?',
      key,
      windowStart,
    );
    return row === undefined ? 0 : num(row, 'count');
  }

  async purgeExpired(now: number): Promise<number> {
    return this.transaction(() => {
      let removed = 0;
      removed += this.run('DELETE FROM codes WHERE expires_at + ? < ?', CODE_REPLAY_MEMORY_MS, now);
      removed += this.run('DELETE FROM sessions WHERE expires_at < ?', now);
      removed += this.run('DELETE FROM interactions WHERE expires_at < ?', now);
      removed += this.run('DELETE FROM access_tokens WHERE expires_at < ?', now);
      removed += this.run('DELETE FROM refresh_tokens WHERE expires_at < ?', now);
      removed += this.run(
        'DELETE FROM grants WHERE expires_at + ? < ?',
        CODE_REPLAY_MEMORY_MS,
        now,
      );
      removed += this.run(
        'DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at < ?',
        now,
      );
      removed += this.run('DELETE FROM counters WHERE window_end <= ?', now);
      return removed;
    });
  }

  async exportSnapshot(): Promise<StoreSnapshot> {
    return {
      users: this.all('SELECT * FROM users ORDER BY username').map(toUser),
      clients: this.all('SELECT * FROM clients ORDER BY client_id').map(toClient),
      consents: this.all('SELECT * FROM consents ORDER BY subject, client_id').map(toConsent),
      grants: this.all('SELECT * FROM grants ORDER BY grant_id').map(toGrant),
      refreshTokens: this.all('SELECT * FROM refresh_tokens ORDER BY token_hash').map(
        toRefreshToken,
      ),
      accessTokens: this.all('SELECT * FROM access_tokens ORDER BY jti').map(toAccessToken),
      signingKeys: await this.listSigningKeys(),
      federatedIdentities: this.all('SELECT * FROM federated_identities ORDER BY subject').map(
        toFederatedIdentity,
      ),
    };
  }

  async importSnapshot(data: StoreSnapshot): Promise<void> {
    // One transaction: a failed import leaves the file as it was.
    this.transaction(() => {
      for (const user of data.users) {
        this.run(
          `INSERT OR REPLACE INTO users (username, password_hash, disabled, roles, created_at,
             updated_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
          user.username,
          user.passwordHash,
          user.disabled ? 1 : 0,
          JSON.stringify(user.roles ?? []),
          user.createdAt,
          user.updatedAt,
        );
      }
      for (const client of data.clients) {
        this.run(
          `INSERT OR REPLACE INTO clients (client_id, secret_hash, metadata, created_at, last_used_at,
             disabled_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
          client.clientId,
          nullable(client.secretHash),
          JSON.stringify(client.metadata),
          client.createdAt,
          nullable(client.lastUsedAt),
          nullable(client.disabledAt),
        );
      }
      for (const consent of data.consents) {
        this.run(
          `INSERT OR REPLACE INTO consents (subject, client_id, scopes, resources, granted_at)
           VALUES (?, ?, ?, ?, ?)`,
          consent.subject,
          consent.clientId,
          JSON.stringify(consent.scopes),
          JSON.stringify(consent.resources),
          consent.grantedAt,
        );
      }
      for (const grant of data.grants) this.writeGrant(grant);
      for (const token of data.refreshTokens) {
        this.run('DELETE FROM refresh_tokens WHERE token_hash = ?', token.tokenHash);
        this.insertRefreshToken(token);
      }
      for (const token of data.accessTokens) this.insertAccessToken(token);
      for (const key of data.signingKeys) {
        this.run(
          `INSERT OR REPLACE INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at,
             activates_at, retires_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          key.kid,
          key.alg,
          JSON.stringify(key.privateJwk),
          JSON.stringify(key.publicJwk),
          key.createdAt,
          key.activatesAt,
          nullable(key.retiresAt),
          nullable(key.expiresAt),
        );
      }
      for (const identity of data.federatedIdentities) this.insertFederatedIdentity(identity);
    });
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
