import type { Cluster, Redis } from 'ioredis';
import { StoreSchemaError, StoreUnavailableError } from './errors.ts';
import {
  connectRedis,
  describeRedisUrl,
  type RedisClient,
  type RedisSettings,
} from './redis-connection.ts';
import { RedisKeys } from './redis-keys.ts';
import {
  accessTokenFields,
  byActivation,
  clientFields,
  consentFields,
  federatedIdentityFields,
  fields,
  grantFields,
  type Hash,
  pairs,
  present,
  refreshTokenFields,
  signingKeyFields,
  toAccessToken,
  toClient,
  toCode,
  toConsent,
  toFederatedIdentity,
  toGrant,
  toInteraction,
  toRefreshToken,
  toSession,
  toSigningKey,
  toUser,
  userFields,
} from './redis-records.ts';
import { SCRIPTS, type ScriptName } from './redis-scripts.ts';
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

const TOMBSTONE_MS = CODE_REPLAY_MEMORY_MS * 2;
/**
 * Every record's Redis TTL runs this much past the time its logical purge would delete it: the
 * TTL only bounds memory, while expiry itself is judged by the callers against their clock, and
 * `purgeExpired` deletes on logical time. The margin absorbs clock differences between replicas.
 */
const TTL_MARGIN_MS = 60 * 60 * 1000;
/**
 * How long a replay entry outlives its deadline: replicas' clocks differ a little, and an entry
 * gone early would let one replica accept what another already saw. Short, unlike TTL_MARGIN_MS,
 * since a busy DPoP route writes one entry per request.
 */
const REPLAY_TTL_MARGIN_MS = 60 * 1000;
/** Most keys one purgeExpired run deletes. */
const PURGE_BATCH = 5000;

const ttl = (from: number, until: number): number => Math.max(1, until - from) + TTL_MARGIN_MS;

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * The distributed store on Redis (standalone, Sentinel or Cluster) through ioredis. Every
 * compare-and-set is one Lua script over keys of one hash slot (src/store/redis-scripts.ts), so
 * the rules that hold on one process hold across every replica sharing the Redis: a code is
 * consumed once, a refresh token rotated once, a reuse revokes the family.
 *
 * Every failure to reach Redis surfaces as `StoreUnavailableError` (503 + Retry-After upstream of
 * here), never as a pass.
 */
export class RedisStore implements Store {
  readonly backend = 'redis';
  readonly keys: RedisKeys;
  /** The URL without credentials, for messages. */
  readonly described: string;
  private readonly client: RedisClient;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(settings: RedisSettings) {
    this.keys = new RedisKeys(settings.keyPrefix);
    this.described = describeRedisUrl(settings.url);
    this.client = connectRedis(settings);
    // Connection errors are reported by the commands that meet them (as StoreUnavailableError);
    // without a listener ioredis would print each reconnect attempt.
    this.client.on('error', () => {});
    for (const [name, script] of Object.entries(SCRIPTS)) {
      this.client.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
    }
  }

  /** The underlying connection, for the gateway's shared state (rate limits, revocation). */
  get connection(): RedisClient {
    return this.client;
  }

  /**
   * Runs work on the connection with the store's failure rule (any failure to reach Redis is a
   * StoreUnavailableError), for the gateway's shared state that lives beside the store.
   */
  run<T>(work: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.op(() => work(this.client));
  }

  /** Runs one operation, turning any failure to reach Redis into StoreUnavailableError. */
  private async op<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('store is closed');
    try {
      await this.checkSchema();
      return await work();
    } catch (error) {
      if (error instanceof StoreSchemaError || error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`the Redis store at ${this.described} did not answer`, {
        cause: error,
      });
    }
  }

  /**
   * Checked once per store; a failed check (Redis down) is tried again next time. A new data set
   * is marked with this version; an older one is upgraded, then marked, so a replica of older
   * code started afterwards refuses it instead of misreading it (an older replica would take a
   * disabled client for an enabled one).
   */
  private checkSchema(): Promise<void> {
    this.ready ??= (async () => {
      const found = Number(
        await this.script('schemaVersion')(this.keys.meta, STORE_SCHEMA_VERSION),
      );
      if (found > STORE_SCHEMA_VERSION) {
        throw new StoreSchemaError(
          `the Redis data set holds schema version ${found}, newer than this Portcullis understands (${STORE_SCHEMA_VERSION}); upgrade Portcullis`,
        );
      }
      if (found < STORE_SCHEMA_VERSION) await this.upgrade(found);
    })().catch((error: unknown) => {
      if (!(error instanceof StoreSchemaError)) this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /**
   * Brings a data set written by an older schema up to this one. Each step is idempotent, so
   * replicas starting together may all run it; the version is raised only after it completed.
   * 1 → 2: user roles and disabled clients need nothing (absent fields read as none and
   * enabled); the grant listings need their indexes and each family's last use, built once
   * from a SCAN of the grants and refresh tokens. 2 → 3: federated identities are new keys,
   * nothing to convert. 3 → 4: DPoP key bindings (`dpop_jkt` on codes and refresh tokens) are
   * new fields, absent meaning unbound; the raised version keeps an older replica, which would
   * drop a binding when it rotates a token, from starting on the data set.
   */
  private async upgrade(from: number): Promise<void> {
    if (from < 2) {
      const p = this.keys.prefix;
      for (const key of await this.scan(this.keys.pattern(`${p}{g:`, '*}:grant'))) {
        const hash = await this.hash(key);
        if (hash !== undefined) await this.indexGrant(toGrant(hash));
      }
      for (const key of await this.scan(this.keys.pattern(`${p}{g:`, '*}:rt:*'))) {
        const hash = await this.hash(key);
        if (hash === undefined) continue;
        const token = toRefreshToken(hash);
        await this.script('noteGrantUse')(
          this.keys.lastUse(token.grantId),
          ttl(token.issuedAt, token.expiresAt),
          token.issuedAt,
        );
      }
    }
    await this.script('raiseSchema')(this.keys.meta, STORE_SCHEMA_VERSION);
  }

  private script(name: ScriptName): ScriptCall {
    const call = (this.client as unknown as Record<string, ScriptCall>)[name];
    if (call === undefined) throw new Error(`script ${name} is not defined`);
    return call.bind(this.client);
  }

  private async hash(key: string): Promise<Hash | undefined> {
    const hash = await this.client.hgetall(key);
    return present(hash) ? hash : undefined;
  }

  /** Records when a key may be deleted by `purgeExpired` (logical time, like SQLite's purge). */
  private schedulePurge(key: string, at: number): Promise<unknown> {
    return this.client.zadd(this.keys.purgeIndex, at, key);
  }

  async schemaVersion(): Promise<number> {
    return this.op(async () => Number(await this.client.hget(this.keys.meta, 'schema')));
  }

  async putUser(user: UserRecord): Promise<void> {
    await this.op(() =>
      this.script('putUser')(
        this.keys.user(user.username),
        this.keys.users,
        user.username,
        user.createdAt,
        ...userFields(user),
      ),
    );
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.user(username));
      return hash && toUser(hash);
    });
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.op(async () => {
      const list = (await this.script('listHashes')(
        this.keys.users,
        this.keys.userPrefix,
      )) as unknown[];
      return list.map((flat) => toUser(pairs(flat))).sort((a, b) => byText(a.username, b.username));
    });
  }

  async hasLocalUsers(): Promise<boolean> {
    return this.op(
      async () =>
        Number(
          await this.script('hasLocalUsers')(this.keys.users, this.keys.federatedIdentities),
        ) === 1,
    );
  }

  async putFederatedIdentity(identity: FederatedIdentityRecord): Promise<void> {
    await this.op(() =>
      this.script('putFederatedIdentity')(
        this.keys.federatedIdentity(identity.subject),
        this.keys.federatedIdentities,
        identity.subject,
        ...federatedIdentityFields(identity),
      ),
    );
  }

  async getFederatedIdentity(subject: string): Promise<FederatedIdentityRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.federatedIdentity(subject));
      return hash && toFederatedIdentity(hash);
    });
  }

  async replaceProviderTokens(
    subject: string,
    expected: string | undefined,
    sealed: string | undefined,
    now: number,
  ): Promise<boolean> {
    return this.op(
      async () =>
        Number(
          await this.script('replaceProviderTokens')(
            this.keys.federatedIdentity(subject),
            expected === undefined ? '0' : '1',
            expected ?? '',
            sealed === undefined ? '0' : '1',
            sealed ?? '',
            now,
          ),
        ) === 1,
    );
  }

  async putClient(client: ClientRecord): Promise<void> {
    await this.op(() =>
      this.script('putClient')(
        this.keys.client(client.clientId),
        this.keys.clientsNeverUsed,
        this.keys.clientsUsed,
        client.clientId,
        client.createdAt,
        client.lastUsedAt ?? '',
        ...clientFields(client),
      ),
    );
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.client(clientId));
      return hash && toClient(hash);
    });
  }

  async touchClient(clientId: string, now: number): Promise<void> {
    await this.op(() =>
      this.script('touchClient')(
        this.keys.client(clientId),
        this.keys.clientsNeverUsed,
        this.keys.clientsUsed,
        clientId,
        now,
      ),
    );
  }

  async listClients(): Promise<ClientRecord[]> {
    return this.op(async () => {
      const list = (await this.script('listClients')(
        this.keys.clientsNeverUsed,
        this.keys.clientsUsed,
        this.keys.clientPrefix,
      )) as unknown[];
      return list
        .map((flat) => toClient(pairs(flat)))
        .sort((a, b) => a.createdAt - b.createdAt || byText(a.clientId, b.clientId));
    });
  }

  async setClientDisabled(clientId: string, disabledAt: number | undefined): Promise<boolean> {
    return this.op(
      async () =>
        Number(
          await this.script('setClientDisabled')(this.keys.client(clientId), disabledAt ?? ''),
        ) === 1,
    );
  }

  async deleteClient(clientId: string): Promise<boolean> {
    return this.op(
      async () =>
        Number(
          await this.script('deleteClient')(
            this.keys.client(clientId),
            this.keys.clientsNeverUsed,
            this.keys.clientsUsed,
            clientId,
          ),
        ) === 1,
    );
  }

  async countClients(): Promise<number> {
    return this.op(async () => {
      const [never, used] = await Promise.all([
        this.client.zcard(this.keys.clientsNeverUsed),
        this.client.zcard(this.keys.clientsUsed),
      ]);
      return never + used;
    });
  }

  async pruneClients(neverUsedBefore: number, lastUsedBefore: number): Promise<number> {
    return this.op(async () =>
      Number(
        await this.script('pruneClients')(
          this.keys.clientsNeverUsed,
          this.keys.clientsUsed,
          this.keys.clientPrefix,
          neverUsedBefore,
          lastUsedBefore,
        ),
      ),
    );
  }

  async putConsent(consent: ConsentRecord): Promise<void> {
    await this.op(() =>
      this.script('putConsent')(
        this.keys.consent(consent.subject, consent.clientId),
        this.keys.consents(consent.subject),
        consent.clientId,
        ...consentFields(consent),
      ),
    );
  }

  async getConsent(subject: string, clientId: string): Promise<ConsentRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.consent(subject, clientId));
      return hash && toConsent(hash);
    });
  }

  async listConsents(subject: string): Promise<ConsentRecord[]> {
    return this.op(async () => {
      const list = (await this.script('listHashes')(
        this.keys.consents(subject),
        this.keys.consentPrefix(subject),
      )) as unknown[];
      return list
        .map((flat) => toConsent(pairs(flat)))
        .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    });
  }

  async deleteConsent(subject: string, clientId: string): Promise<boolean> {
    return this.op(
      async () =>
        Number(
          await this.script('deleteConsent')(
            this.keys.consent(subject, clientId),
            this.keys.consents(subject),
            clientId,
          ),
        ) > 0,
    );
  }

  async putSession(session: SessionRecord): Promise<void> {
    await this.op(async () => {
      const key = this.keys.session(session.idHash);
      await Promise.all([
        this.client
          .multi()
          .del(key)
          .hset(
            key,
            ...fields({
              id_hash: session.idHash,
              subject: session.subject,
              created_at: session.createdAt,
              expires_at: session.expiresAt,
            }),
          )
          .pexpire(key, ttl(session.createdAt, session.expiresAt))
          .exec(),
        this.schedulePurge(key, session.expiresAt),
      ]);
    });
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.session(idHash));
      return hash && toSession(hash);
    });
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.op(() => this.client.del(this.keys.session(idHash)));
  }

  async putInteraction(interaction: InteractionRecord): Promise<void> {
    await this.op(async () => {
      const key = this.keys.interaction(interaction.id);
      await Promise.all([
        this.client
          .multi()
          .del(key)
          .hset(
            key,
            ...fields({
              id: interaction.id,
              browser_hash: interaction.browserHash,
              request: JSON.stringify(interaction.request),
              created_at: interaction.createdAt,
              expires_at: interaction.expiresAt,
            }),
          )
          .pexpire(key, ttl(interaction.createdAt, interaction.expiresAt))
          .exec(),
        this.schedulePurge(key, interaction.expiresAt),
      ]);
    });
  }

  async getInteraction(id: string): Promise<InteractionRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.interaction(id));
      return hash && toInteraction(hash);
    });
  }

  async takeInteraction(id: string): Promise<InteractionRecord | undefined> {
    return this.op(async () => {
      const flat = await this.script('takeInteraction')(this.keys.interaction(id));
      return flat === null ? undefined : toInteraction(pairs(flat));
    });
  }

  async putCode(code: CodeRecord): Promise<void> {
    await this.op(async () => {
      const key = this.keys.code(code.codeHash);
      const purgeAt = code.expiresAt + CODE_REPLAY_MEMORY_MS;
      await Promise.all([
        this.client
          .multi()
          .del(key)
          .hset(
            key,
            ...fields({
              code_hash: code.codeHash,
              grant_id: code.grantId,
              client_id: code.clientId,
              subject: code.subject,
              redirect_uri: code.redirectUri,
              code_challenge: code.codeChallenge,
              resource: code.resource,
              scopes: JSON.stringify(code.scopes),
              created_at: code.createdAt,
              expires_at: code.expiresAt,
              consumed_at: code.consumedAt,
              dpop_jkt: code.dpopJkt,
            }),
          )
          .pexpire(key, ttl(code.createdAt, purgeAt))
          .exec(),
        this.schedulePurge(key, purgeAt),
      ]);
    });
  }

  async consumeCode(codeHash: string, now: number): Promise<ConsumeCodeResult> {
    return this.op(async () => {
      const result = await this.script('consumeCode')(this.keys.code(codeHash), now);
      if (!Array.isArray(result)) return { status: 'not-found' };
      const code = toCode(pairs(result[1]));
      return result[0] === 'consumed' ? { status: 'consumed', code } : { status: 'replayed', code };
    });
  }

  async putGrant(grant: GrantRecord): Promise<void> {
    await this.op(async () => {
      const key = this.keys.grant(grant.grantId);
      const purgeAt = grant.expiresAt + CODE_REPLAY_MEMORY_MS;
      const index = this.keys.grantsOf(grant.subject, grant.clientId);
      const indexTtl = ttl(grant.createdAt, purgeAt);
      await Promise.all([
        this.script('putGrant')(key, indexTtl, ...grantFields(grant)),
        this.client
          .multi()
          .sadd(index, grant.grantId)
          .pexpire(index, indexTtl, 'NX')
          .pexpire(index, indexTtl, 'GT')
          .exec(),
        this.indexGrant(grant),
        this.schedulePurge(key, purgeAt),
      ]);
    });
  }

  /**
   * Adds a grant to the listing indexes (every grant, its user's, its client's), scored by its
   * absolute end. Tombstones (a revocation of an unknown grant, no client) are not listed. The
   * per-user and per-client sets live as long as their longest grant; the global one is trimmed
   * by score in purgeExpired.
   */
  private async indexGrant(grant: GrantRecord): Promise<void> {
    if (grant.clientId === '') return;
    const life = ttl(grant.createdAt, grant.expiresAt + CODE_REPLAY_MEMORY_MS);
    const scoped = [
      this.keys.grantsBySubject(grant.subject),
      this.keys.grantsByClient(grant.clientId),
    ];
    await Promise.all([
      this.client.zadd(this.keys.grantIndex, grant.expiresAt, grant.grantId),
      ...scoped.map((index) =>
        this.client
          .multi()
          .zadd(index, grant.expiresAt, grant.grantId)
          .pexpire(index, life, 'NX')
          .pexpire(index, life, 'GT')
          .exec(),
      ),
    ]);
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.grant(grantId));
      return hash && toGrant(hash);
    });
  }

  async revokeGrant(grantId: string, now: number): Promise<boolean> {
    return this.op(async () => {
      const key = this.keys.grant(grantId);
      const [changed] = await Promise.all([
        this.script('revokeGrant')(
          key,
          grantId,
          now,
          now + TOMBSTONE_MS,
          TOMBSTONE_MS + CODE_REPLAY_MEMORY_MS + TTL_MARGIN_MS,
        ),
        this.client.zadd(
          this.keys.purgeIndex,
          'NX',
          now + TOMBSTONE_MS + CODE_REPLAY_MEMORY_MS,
          key,
        ),
      ]);
      if (Number(changed) === 1) await this.publishRevocation(`grant:${grantId}`);
      return Number(changed) === 1;
    });
  }

  /** Tells every replica's revocation cache at once (Redis pub/sub); the store stays the truth. */
  private async publishRevocation(message: string): Promise<void> {
    await this.client.publish(this.keys.revocationChannel, message);
  }

  async revokeGrantsFor(subject: string, clientId: string, now: number): Promise<number> {
    return this.op(async () => {
      const index = this.keys.grantsOf(subject, clientId);
      const grantIds = await this.client.smembers(index);
      // Each grant is revoked atomically on its own slot; the set only lists candidates.
      const results = await Promise.all(
        grantIds.map(async (grantId) => {
          const changed = Number(
            await this.script('revokeGrantOf')(this.keys.grant(grantId), subject, clientId, now),
          );
          if (changed === 1) await this.publishRevocation(`grant:${grantId}`);
          return changed;
        }),
      );
      return results.reduce((sum, changed) => sum + changed, 0);
    });
  }

  async listGrants(filter: GrantFilter): Promise<GrantListing[]> {
    return this.op(async () => {
      const index = this.grantIndexFor(filter);
      const from = filter.liveAt === undefined ? '-inf' : `(${filter.liveAt}`;
      const ids = await this.client.zrangebyscore(index, from, '+inf');
      const found = await Promise.all(
        ids.map(async (grantId) => ({
          grantId,
          result: await this.script('grantListing')(
            this.keys.grant(grantId),
            this.keys.lastUse(grantId),
          ),
        })),
      );
      // Ids whose grant is gone (its Redis TTL ran out before a purge) leave the index here.
      const gone = found.filter(({ result }) => !Array.isArray(result)).map((f) => f.grantId);
      if (gone.length > 0) await this.client.zrem(index, ...gone);
      return found
        .flatMap(({ result }) => (Array.isArray(result) ? [listing(result)] : []))
        .filter((grant) => grantMatches(grant, filter))
        .sort((a, b) => b.createdAt - a.createdAt || byText(a.grantId, b.grantId));
    });
  }

  /** The narrowest listing index a filter allows; the rest of the filter applies to the records. */
  private grantIndexFor(filter: GrantFilter): string {
    if (filter.subject !== undefined) return this.keys.grantsBySubject(filter.subject);
    if (filter.clientId !== undefined) return this.keys.grantsByClient(filter.clientId);
    return this.keys.grantIndex;
  }

  async putAccessToken(token: AccessTokenRecord): Promise<void> {
    await this.op(() => this.writeAccessToken(token));
  }

  private async writeAccessToken(token: AccessTokenRecord): Promise<void> {
    const key = this.keys.accessToken(token.jti);
    await Promise.all([
      this.client
        .multi()
        .del(key)
        .hset(key, ...accessTokenFields(token))
        .pexpireat(key, token.expiresAt + TTL_MARGIN_MS)
        .exec(),
      this.schedulePurge(key, token.expiresAt),
    ]);
  }

  async getAccessToken(jti: string): Promise<AccessTokenRecord | undefined> {
    return this.op(async () => {
      const hash = await this.hash(this.keys.accessToken(jti));
      return hash && toAccessToken(hash);
    });
  }

  async revokeAccessToken(jti: string, now: number): Promise<void> {
    await this.op(async () => {
      const changed = Number(
        await this.script('revokeAccessToken')(this.keys.accessToken(jti), now),
      );
      if (changed === 1) await this.publishRevocation(`jti:${jti}`);
    });
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    return (await this.accessTokenState(jti)).revoked;
  }

  /** Whether a token is revoked, with its grant (for a replica's revocation cache). */
  async accessTokenState(jti: string): Promise<{ grantId: string | undefined; revoked: boolean }> {
    return this.op(async () => {
      const [grantId, revokedAt] = await this.client.hmget(
        this.keys.accessToken(jti),
        'grant_id',
        'revoked_at',
      );
      if (grantId === null || grantId === undefined) return { grantId: undefined, revoked: false };
      if (revokedAt !== null && revokedAt !== undefined) return { grantId, revoked: true };
      const grantRevoked = await this.client.hexists(this.keys.grant(grantId), 'revoked_at');
      return { grantId, revoked: grantRevoked === 1 };
    });
  }

  async putRefreshToken(token: RefreshTokenRecord): Promise<void> {
    await this.op(() => this.writeRefreshToken(token));
  }

  private async writeRefreshToken(token: RefreshTokenRecord): Promise<void> {
    const key = this.keys.refreshToken(token.grantId, token.tokenHash);
    const index = this.keys.refreshTokenIndex(token.tokenHash);
    const life = ttl(token.issuedAt, token.expiresAt);
    await Promise.all([
      this.script('putRefreshToken')(
        key,
        this.keys.lastUse(token.grantId),
        life,
        token.issuedAt,
        ...refreshTokenFields(token),
      ),
      this.client.set(index, token.grantId, 'PX', life),
      this.schedulePurge(key, token.expiresAt),
      this.schedulePurge(index, token.expiresAt),
    ]);
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    return this.op(async () => {
      const grantId = await this.client.get(this.keys.refreshTokenIndex(tokenHash));
      if (grantId === null) return undefined;
      const hash = await this.hash(this.keys.refreshToken(grantId, tokenHash));
      return hash && toRefreshToken(hash);
    });
  }

  async rotateRefreshToken(input: RotateRefreshInput): Promise<RotateRefreshResult> {
    return this.op(async (): Promise<RotateRefreshResult> => {
      const grantId = await this.client.get(this.keys.refreshTokenIndex(input.tokenHash));
      if (grantId === null) return { status: 'not-found' };
      const { successor } = input;
      if (successor.grantId !== grantId) {
        throw new Error('a successor refresh token must belong to the same grant');
      }
      const successorKey = this.keys.refreshToken(grantId, successor.tokenHash);
      const successorIndex = this.keys.refreshTokenIndex(successor.tokenHash);
      const life = ttl(successor.issuedAt, successor.expiresAt);
      // Written before the compare-and-set: a record of a token that is never handed out is
      // harmless (nobody holds it), while an access token handed out without its record could
      // not be revoked by jti.
      await Promise.all([
        this.writeAccessToken(input.accessToken),
        this.client.set(successorIndex, grantId, 'PX', life),
        this.schedulePurge(successorIndex, successor.expiresAt),
        this.schedulePurge(successorKey, successor.expiresAt),
      ]);
      const result = (await this.script('rotateRefreshToken')(
        this.keys.refreshToken(grantId, input.tokenHash),
        this.keys.grant(grantId),
        successorKey,
        this.keys.lastUse(grantId),
        input.clientId,
        input.now,
        input.graceMs,
        this.keys.family(grantId),
        input.graceBlob,
        life,
        successor.tokenHash,
        successor.issuedAt,
        ...refreshTokenFields(successor),
      )) as unknown[];
      switch (result[0]) {
        case 'rotated':
          return { status: 'rotated', previous: toRefreshToken(pairs(result[1])) };
        case 'grace':
          return {
            status: 'grace',
            graceBlob: String(result[1]),
            previous: toRefreshToken(pairs(result[2])),
          };
        case 'reused':
          await this.publishRevocation(`grant:${grantId}`);
          return { status: 'reused', grantId };
        case 'wrong-client':
          return { status: 'wrong-client' };
        case 'revoked':
          return { status: 'revoked' };
        case 'expired':
          return { status: 'expired' };
        default:
          return { status: 'not-found' };
      }
    });
  }

  async putSigningKey(key: SigningKeyRecord): Promise<void> {
    await this.op(() =>
      this.client
        .multi()
        .del(this.keys.signingKey(key.kid))
        .hset(this.keys.signingKey(key.kid), ...signingKeyFields(key))
        .sadd(this.keys.signingKeys, key.kid)
        .exec(),
    );
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.op(async () => {
      const list = (await this.script('listHashes')(
        this.keys.signingKeys,
        this.keys.signingKeyPrefix,
      )) as unknown[];
      return list.map((flat) => toSigningKey(pairs(flat))).sort(byActivation);
    });
  }

  async updateSigningKey(
    kid: string,
    changes: { readonly retiresAt?: number; readonly expiresAt?: number },
  ): Promise<void> {
    await this.op(() =>
      this.script('updateSigningKey')(
        this.keys.signingKey(kid),
        ...fields({ retires_at: changes.retiresAt, expires_at: changes.expiresAt }),
      ),
    );
  }

  async incrementCounter(key: string, windowMs: number, now: number): Promise<number> {
    const windowStart = now - (now % windowMs);
    return this.op(async () =>
      Number(
        await this.script('incrementCounter')(
          this.keys.counter(key, windowStart),
          windowMs + TTL_MARGIN_MS,
        ),
      ),
    );
  }

  async rememberOnce(key: string, untilMs: number, now: number): Promise<boolean> {
    return this.op(
      async () =>
        Number(
          await this.script('rememberOnce')(
            this.keys.replay(key),
            untilMs,
            now,
            Math.max(1, untilMs - now) + REPLAY_TTL_MARGIN_MS,
          ),
        ) === 1,
    );
  }

  async readCounter(key: string, windowMs: number, now: number): Promise<number> {
    const windowStart = now - (now % windowMs);
    return this.op(async () =>
      Number((await this.client.get(this.keys.counter(key, windowStart))) ?? 0),
    );
  }

  async purgeExpired(now: number): Promise<number> {
    return this.op(async () => {
      // Bounded per run (the authorization server purges every few minutes), so one run never
      // holds thousands of commands in flight.
      const due = await this.client.zrangebyscore(
        this.keys.purgeIndex,
        '-inf',
        `(${now}`,
        'LIMIT',
        0,
        PURGE_BATCH,
      );
      let removed = 0;
      await this.unindexGrants(due.filter((key) => this.isGrantKey(key)));
      // One key per command: on a cluster the keys live in different slots.
      const deleted = await Promise.all(due.map((key) => this.client.del(key)));
      for (const count of deleted) removed += count;
      if (due.length > 0) await this.client.zrem(this.keys.purgeIndex, ...due);
      // Every grant ending before this has been (or is now being) purged.
      await this.client.zremrangebyscore(
        this.keys.grantIndex,
        '-inf',
        `(${now - CODE_REPLAY_MEMORY_MS}`,
      );
      removed += Number(
        await this.script('purgeSigningKeys')(
          this.keys.signingKeys,
          this.keys.signingKeyPrefix,
          now,
        ),
      );
      return removed;
    });
  }

  private isGrantKey(key: string): boolean {
    const start = `${this.keys.prefix}{g:`;
    return key.startsWith(start) && key.endsWith('}:grant');
  }

  /** Takes grants about to be purged out of their user's and client's listing index. */
  private async unindexGrants(grantKeys: readonly string[]): Promise<void> {
    await Promise.all(
      grantKeys.map(async (key) => {
        const [grantId, subject, clientId] = await this.client.hmget(
          key,
          'grant_id',
          'subject',
          'client_id',
        );
        if (grantId == null || subject == null || clientId == null || clientId === '') return;
        await Promise.all([
          this.client.zrem(this.keys.grantsBySubject(subject), grantId),
          this.client.zrem(this.keys.grantsByClient(clientId), grantId),
        ]);
      }),
    );
  }

  async exportSnapshot(): Promise<StoreSnapshot> {
    return this.op(async () => {
      const read = async <T>(start: string, rest: string, to: (hash: Hash) => T): Promise<T[]> => {
        const keys = await this.scan(this.keys.pattern(start, rest));
        const hashes = await Promise.all(keys.map((key) => this.hash(key)));
        return hashes.filter((hash): hash is Hash => hash !== undefined).map(to);
      };
      const p = this.keys.prefix;
      const [
        users,
        clients,
        consents,
        grants,
        refreshTokens,
        accessTokens,
        signingKeys,
        federatedIdentities,
      ] = await Promise.all([
        read(`${p}{users}:u:`, '*', toUser),
        read(`${p}{clients}:c:`, '*', toClient),
        read(`${p}{consents:`, '*}:c:*', toConsent),
        read(`${p}{g:`, '*}:grant', toGrant),
        read(`${p}{g:`, '*}:rt:*', toRefreshToken),
        read(`${p}at:`, '*', toAccessToken),
        read(`${p}{keys}:k:`, '*', toSigningKey),
        read(this.keys.federatedIdentityPrefix, '*', toFederatedIdentity),
      ]);
      return {
        users,
        clients,
        consents,
        grants,
        refreshTokens,
        accessTokens,
        signingKeys: signingKeys.sort(byActivation),
        federatedIdentities,
      };
    });
  }

  /** Every key matching a pattern, on every master of a cluster. */
  private async scan(pattern: string): Promise<string[]> {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    const found = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        for (const key of keys) found.add(key);
        cursor = next;
      } while (cursor !== '0');
    }
    return [...found];
  }

  async importSnapshot(data: StoreSnapshot): Promise<void> {
    for (const user of data.users) {
      // An import replaces: the creation time comes from the source.
      await this.op(() => this.client.del(this.keys.user(user.username)));
      await this.putUser(user);
    }
    for (const client of data.clients) await this.putClient(client);
    for (const consent of data.consents) await this.putConsent(consent);
    for (const grant of data.grants) await this.putGrant(grant);
    for (const token of data.refreshTokens) await this.putRefreshToken(token);
    for (const token of data.accessTokens) await this.putAccessToken(token);
    for (const key of data.signingKeys) await this.putSigningKey(key);
    for (const identity of data.federatedIdentities) await this.putFederatedIdentity(identity);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** A grantListing script answer: the grant, its last use the later of creation and newest refresh. */
function listing(result: unknown[]): GrantListing {
  const grant = toGrant(pairs(result[0]));
  return { ...grant, lastUsedAt: Math.max(grant.createdAt, Number(result[1] || 0)) };
}

/** Tombstones (no client) are never listed; each filter field narrows. */
function grantMatches(grant: GrantRecord, filter: GrantFilter): boolean {
  return (
    grant.clientId !== '' &&
    (filter.subject === undefined || grant.subject === filter.subject) &&
    (filter.clientId === undefined || grant.clientId === filter.clientId) &&
    (filter.liveAt === undefined ||
      (grant.revokedAt === undefined && grant.expiresAt > filter.liveAt))
  );
}

/** Code-unit order, as SQLite's default collation sorts. */
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}
