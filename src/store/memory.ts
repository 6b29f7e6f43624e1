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

/** A copy the caller cannot change, so the store's state changes only through its methods. */
function snapshot<T>(value: T): T {
  return Object.freeze(structuredClone(value));
}

/** How long a revocation tombstone for an unknown grant is kept. */
const TOMBSTONE_MS = CODE_REPLAY_MEMORY_MS * 2;

/**
 * The in-process store, for tests and single-process development. Every method does its work
 * synchronously before its promise settles, so each one is atomic with respect to the others.
 */
export class MemoryStore implements Store {
  readonly backend = 'memory';
  private readonly users = new Map<string, UserRecord>();
  private readonly clients = new Map<string, ClientRecord>();
  private readonly consents = new Map<string, ConsentRecord>();
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly interactions = new Map<string, InteractionRecord>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly grants = new Map<string, GrantRecord>();
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  private readonly keys = new Map<string, SigningKeyRecord>();
  private readonly federated = new Map<string, FederatedIdentityRecord>();
  private readonly counters = new Map<
    string,
    { windowStart: number; windowEnd: number; count: number }
  >();
  private closed = false;

  private check(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async schemaVersion(): Promise<number> {
    return STORE_SCHEMA_VERSION;
  }

  async putUser(user: UserRecord): Promise<void> {
    this.check();
    const existing = this.users.get(user.username);
    this.users.set(
      user.username,
      snapshot({ ...user, createdAt: existing?.createdAt ?? user.createdAt }),
    );
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    this.check();
    return this.users.get(username);
  }

  async listUsers(): Promise<UserRecord[]> {
    this.check();
    return [...this.users.values()].sort((a, b) => a.username.localeCompare(b.username));
  }

  async hasLocalUsers(): Promise<boolean> {
    this.check();
    for (const user of this.users.values()) {
      if (!this.federated.has(user.username)) return true;
    }
    return false;
  }

  async putFederatedIdentity(identity: FederatedIdentityRecord): Promise<void> {
    this.check();
    this.federated.set(identity.subject, snapshot(identity));
  }

  async getFederatedIdentity(subject: string): Promise<FederatedIdentityRecord | undefined> {
    this.check();
    return this.federated.get(subject);
  }

  async replaceProviderTokens(
    subject: string,
    expected: string | undefined,
    sealed: string | undefined,
    now: number,
  ): Promise<boolean> {
    this.check();
    const current = this.federated.get(subject);
    if (current === undefined || current.sealedTokens !== expected) return false;
    this.federated.set(subject, snapshot({ ...current, sealedTokens: sealed, updatedAt: now }));
    return true;
  }

  async putClient(client: ClientRecord): Promise<void> {
    this.check();
    this.clients.set(client.clientId, snapshot(client));
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    this.check();
    return this.clients.get(clientId);
  }

  async touchClient(clientId: string, now: number): Promise<void> {
    this.check();
    const client = this.clients.get(clientId);
    if (client) this.clients.set(clientId, snapshot({ ...client, lastUsedAt: now }));
  }

  async listClients(): Promise<ClientRecord[]> {
    this.check();
    return [...this.clients.values()].sort(
      (a, b) => a.createdAt - b.createdAt || a.clientId.localeCompare(b.clientId),
    );
  }

  async setClientDisabled(clientId: string, disabledAt: number | undefined): Promise<boolean> {
    this.check();
    const client = this.clients.get(clientId);
    if (client === undefined) return false;
    // Enabled is the field's absence, as the other backends read it back.
    const { disabledAt: _previous, ...rest } = client;
    this.clients.set(clientId, snapshot(disabledAt === undefined ? rest : { ...rest, disabledAt }));
    return true;
  }

  async deleteClient(clientId: string): Promise<boolean> {
    this.check();
    return this.clients.delete(clientId);
  }

  async countClients(): Promise<number> {
    this.check();
    return this.clients.size;
  }

  async pruneClients(neverUsedBefore: number, lastUsedBefore: number): Promise<number> {
    this.check();
    let removed = 0;
    for (const [id, client] of this.clients) {
      const stale =
        client.lastUsedAt === undefined
          ? client.createdAt < neverUsedBefore
          : client.lastUsedAt < lastUsedBefore;
      if (stale) {
        this.clients.delete(id);
        removed++;
      }
    }
    return removed;
  }

  async putConsent(consent: ConsentRecord): Promise<void> {
    this.check();
    this.consents.set(consentKey(consent.subject, consent.clientId), snapshot(consent));
  }

  async getConsent(subject: string, clientId: string): Promise<ConsentRecord | undefined> {
    this.check();
    return this.consents.get(consentKey(subject, clientId));
  }

  async listConsents(subject: string): Promise<ConsentRecord[]> {
    this.check();
    return [...this.consents.values()]
      .filter((consent) => consent.subject === subject)
      .sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  async deleteConsent(subject: string, clientId: string): Promise<boolean> {
    this.check();
    return this.consents.delete(consentKey(subject, clientId));
  }

  async putSession(session: SessionRecord): Promise<void> {
    this.check();
    this.sessions.set(session.idHash, snapshot(session));
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    this.check();
    return this.sessions.get(idHash);
  }

  async deleteSession(idHash: string): Promise<void> {
    this.check();
    this.sessions.delete(idHash);
  }

  async putInteraction(interaction: InteractionRecord): Promise<void> {
    this.check();
    this.interactions.set(interaction.id, snapshot(interaction));
  }

  async getInteraction(id: string): Promise<InteractionRecord | undefined> {
    this.check();
    return this.interactions.get(id);
  }

  async takeInteraction(id: string): Promise<InteractionRecord | undefined> {
    this.check();
    const found = this.interactions.get(id);
    this.interactions.delete(id);
    return found;
  }

  async putCode(code: CodeRecord): Promise<void> {
    this.check();
    this.codes.set(code.codeHash, snapshot(code));
  }

  async consumeCode(codeHash: string, now: number): Promise<ConsumeCodeResult> {
    this.check();
    const code = this.codes.get(codeHash);
    if (code === undefined) return { status: 'not-found' };
    if (code.consumedAt !== undefined) return { status: 'replayed', code };
    this.codes.set(codeHash, snapshot({ ...code, consumedAt: now }));
    return { status: 'consumed', code };
  }

  async putGrant(grant: GrantRecord): Promise<void> {
    this.check();
    const tombstone = this.grants.get(grant.grantId);
    this.grants.set(
      grant.grantId,
      snapshot({ ...grant, revokedAt: tombstone?.revokedAt ?? grant.revokedAt }),
    );
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    this.check();
    return this.grants.get(grantId);
  }

  async revokeGrant(grantId: string, now: number): Promise<boolean> {
    this.check();
    return this.revokeGrantNow(grantId, now);
  }

  private revokeGrantNow(grantId: string, now: number): boolean {
    const grant = this.grants.get(grantId);
    if (grant?.revokedAt !== undefined) return false;
    this.grants.set(
      grantId,
      snapshot(
        grant
          ? { ...grant, revokedAt: now }
          : {
              grantId,
              kind: 'authorization_code' as const,
              subject: '',
              clientId: '',
              resource: '',
              scopes: [],
              createdAt: now,
              expiresAt: now + TOMBSTONE_MS,
              revokedAt: now,
            },
      ),
    );
    return true;
  }

  async revokeGrantsFor(subject: string, clientId: string, now: number): Promise<number> {
    this.check();
    let count = 0;
    for (const grant of this.grants.values()) {
      if (grant.subject === subject && grant.clientId === clientId && grant.revokedAt === undefined)
        if (this.revokeGrantNow(grant.grantId, now)) count++;
    }
    return count;
  }

  async listGrants(filter: GrantFilter): Promise<GrantListing[]> {
    this.check();
    const lastUse = new Map<string, number>();
    for (const token of this.refreshTokens.values()) {
      lastUse.set(token.grantId, Math.max(lastUse.get(token.grantId) ?? 0, token.issuedAt));
    }
    return [...this.grants.values()]
      .filter(
        (grant) =>
          grant.clientId !== '' &&
          (filter.subject === undefined || grant.subject === filter.subject) &&
          (filter.clientId === undefined || grant.clientId === filter.clientId) &&
          (filter.liveAt === undefined ||
            (grant.revokedAt === undefined && grant.expiresAt > filter.liveAt)),
      )
      .map((grant) => ({
        ...grant,
        lastUsedAt: Math.max(grant.createdAt, lastUse.get(grant.grantId) ?? 0),
      }))
      .sort((a, b) => b.createdAt - a.createdAt || a.grantId.localeCompare(b.grantId));
  }

  async putAccessToken(token: AccessTokenRecord): Promise<void> {
    this.check();
    this.accessTokens.set(token.jti, snapshot(token));
  }

  async getAccessToken(jti: string): Promise<AccessTokenRecord | undefined> {
    this.check();
    return this.accessTokens.get(jti);
  }

  async revokeAccessToken(jti: string, now: number): Promise<void> {
    this.check();
    const token = this.accessTokens.get(jti);
    if (token && token.revokedAt === undefined)
      this.accessTokens.set(jti, snapshot({ ...token, revokedAt: now }));
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    this.check();
    const token = this.accessTokens.get(jti);
    if (token === undefined) return false;
    if (token.revokedAt !== undefined) return true;
    return this.grants.get(token.grantId)?.revokedAt !== undefined;
  }

  async putRefreshToken(token: RefreshTokenRecord): Promise<void> {
    this.check();
    this.refreshTokens.set(token.tokenHash, snapshot(token));
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    this.check();
    return this.refreshTokens.get(tokenHash);
  }

  async rotateRefreshToken(input: RotateRefreshInput): Promise<RotateRefreshResult> {
    this.check();
    const old = this.refreshTokens.get(input.tokenHash);
    if (old === undefined) return { status: 'not-found' };
    if (old.clientId !== input.clientId) return { status: 'wrong-client' };
    const grant = this.grants.get(old.grantId);
    if (grant === undefined || grant.revokedAt !== undefined) return { status: 'revoked' };
    if (old.rotatedAt !== undefined) {
      const successor =
        old.successorHash === undefined ? undefined : this.refreshTokens.get(old.successorHash);
      const withinGrace = input.now - old.rotatedAt <= input.graceMs;
      if (withinGrace && successor?.rotatedAt === undefined && old.graceBlob !== undefined) {
        return { status: 'grace', graceBlob: old.graceBlob, previous: old };
      }
      this.revokeGrantNow(old.grantId, input.now);
      return { status: 'reused', grantId: old.grantId };
    }
    if (old.expiresAt <= input.now || grant.expiresAt <= input.now) return { status: 'expired' };
    this.refreshTokens.set(
      old.tokenHash,
      snapshot({
        ...old,
        rotatedAt: input.now,
        successorHash: input.successor.tokenHash,
        graceBlob: input.graceBlob,
      }),
    );
    this.refreshTokens.set(input.successor.tokenHash, snapshot(input.successor));
    this.accessTokens.set(input.accessToken.jti, snapshot(input.accessToken));
    return { status: 'rotated', previous: old };
  }

  async putSigningKey(key: SigningKeyRecord): Promise<void> {
    this.check();
    this.keys.set(key.kid, snapshot(key));
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    this.check();
    return [...this.keys.values()].sort((a, b) => a.activatesAt - b.activatesAt);
  }

  async updateSigningKey(
    kid: string,
    changes: { readonly retiresAt?: number; readonly expiresAt?: number },
  ): Promise<void> {
    this.check();
    const key = this.keys.get(kid);
    if (key) this.keys.set(kid, snapshot({ ...key, ...changes }));
  }

  async incrementCounter(key: string, windowMs: number, now: number): Promise<number> {
    this.check();
    const windowStart = now - (now % windowMs);
    const current = this.counters.get(key);
    const count = current && current.windowStart === windowStart ? current.count + 1 : 1;
    this.counters.set(key, { windowStart, windowEnd: windowStart + windowMs, count });
    return count;
  }

  async readCounter(key: string, windowMs: number, now: number): Promise<number> {
    this.check();
    const windowStart = now - (now % windowMs);
    const current = this.counters.get(key);
    return current && current.windowStart === windowStart ? current.count : 0;
  }

  async purgeExpired(now: number): Promise<number> {
    this.check();
    let removed = 0;
    const sweep = <T>(map: Map<string, T>, expired: (value: T) => boolean) => {
      for (const [key, value] of map) {
        if (expired(value)) {
          map.delete(key);
          removed++;
        }
      }
    };
    sweep(this.codes, (code) => code.expiresAt + CODE_REPLAY_MEMORY_MS < now);
    sweep(this.sessions, (session) => session.expiresAt < now);
    sweep(this.interactions, (interaction) => interaction.expiresAt < now);
    sweep(this.accessTokens, (token) => token.expiresAt < now);
    sweep(this.refreshTokens, (token) => token.expiresAt < now);
    sweep(this.grants, (grant) => grant.expiresAt + CODE_REPLAY_MEMORY_MS < now);
    sweep(this.keys, (key) => key.expiresAt !== undefined && key.expiresAt < now);
    sweep(this.counters, (counter) => counter.windowEnd <= now);
    return removed;
  }

  async exportSnapshot(): Promise<StoreSnapshot> {
    this.check();
    return {
      // Roles as the other backends read them back: a user given none has none ([]).
      users: [...this.users.values()].map((user) => ({ ...user, roles: user.roles ?? [] })),
      clients: [...this.clients.values()],
      consents: [...this.consents.values()],
      grants: [...this.grants.values()],
      refreshTokens: [...this.refreshTokens.values()],
      accessTokens: [...this.accessTokens.values()],
      signingKeys: [...this.keys.values()],
      federatedIdentities: [...this.federated.values()],
    };
  }

  async importSnapshot(data: StoreSnapshot): Promise<void> {
    this.check();
    for (const user of data.users) this.users.set(user.username, snapshot(user));
    for (const client of data.clients) this.clients.set(client.clientId, snapshot(client));
    for (const consent of data.consents) {
      this.consents.set(consentKey(consent.subject, consent.clientId), snapshot(consent));
    }
    for (const grant of data.grants) await this.putGrant(grant);
    for (const token of data.refreshTokens)
      this.refreshTokens.set(token.tokenHash, snapshot(token));
    for (const token of data.accessTokens) this.accessTokens.set(token.jti, snapshot(token));
    for (const key of data.signingKeys) this.keys.set(key.kid, snapshot(key));
    for (const identity of data.federatedIdentities) {
      this.federated.set(identity.subject, snapshot(identity));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function consentKey(subject: string, clientId: string): string {
  return `${subject}\u0000${clientId}`;
}
