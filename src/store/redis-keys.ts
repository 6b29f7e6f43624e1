/**
 * Where each record lives in Redis. Every key starts with the deployment's prefix, so several
 * deployments can share one Redis. Keys that one atomic script touches together carry the same
 * hash tag (`{…}`), so they hash to one slot and the script also runs on a Redis Cluster (Redis
 * Cluster specification, "Hash tags"): a grant's family (the grant and its refresh tokens), the
 * user set (with the federated identities), the client set, one user's consents, the signing keys.
 *
 * A caller-supplied part that sits inside a hash tag is percent-encoded, so no value can close
 * the tag early or collide with another key; parts after the tag are kept as they are (the tag is
 * fixed by then and each namespace has its own fixed infix).
 */
const inTag = (value: string) => encodeURIComponent(value);

export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    if (/[{}]/.test(prefix)) throw new Error('a Redis key prefix may not contain { or }');
    this.prefix = prefix;
  }

  /** Schema version and other facts about the data set. */
  get meta(): string {
    return `${this.prefix}{meta}`;
  }

  /** Keys to delete at a logical time (score): what the SQLite store's purge deletes. */
  get purgeIndex(): string {
    return `${this.prefix}{purge}`;
  }

  /** Published grant and token revocations, for the replicas' local caches. */
  get revocationChannel(): string {
    return `${this.prefix}revocations`;
  }

  user(username: string): string {
    return `${this.prefix}{users}:u:${username}`;
  }
  get users(): string {
    return `${this.prefix}{users}:all`;
  }
  get userPrefix(): string {
    return `${this.prefix}{users}:u:`;
  }

  /**
   * A person signed in at an identity provider, beside the user records (same hash tag), so
   * telling local users from federated ones is one script.
   */
  federatedIdentity(subject: string): string {
    return `${this.federatedIdentityPrefix}${subject}`;
  }
  get federatedIdentityPrefix(): string {
    return `${this.prefix}{users}:f:`;
  }
  get federatedIdentities(): string {
    return `${this.prefix}{users}:federated`;
  }

  client(clientId: string): string {
    return `${this.prefix}{clients}:c:${clientId}`;
  }
  get clientPrefix(): string {
    return `${this.prefix}{clients}:c:`;
  }
  /** Client ids never used, scored by creation time. */
  get clientsNeverUsed(): string {
    return `${this.prefix}{clients}:never`;
  }
  /** Client ids used, scored by last use. */
  get clientsUsed(): string {
    return `${this.prefix}{clients}:used`;
  }

  consent(subject: string, clientId: string): string {
    return `${this.consentPrefix(subject)}${clientId}`;
  }
  consentPrefix(subject: string): string {
    return `${this.prefix}{consents:${inTag(subject)}}:c:`;
  }
  consents(subject: string): string {
    return `${this.prefix}{consents:${inTag(subject)}}:all`;
  }

  session(idHash: string): string {
    return `${this.prefix}session:${idHash}`;
  }
  /** A legacy MCP session of an HTTP upstream, by the SHA-256 of its id (any replica serves it). */
  mcpSession(name: string): string {
    return `${this.prefix}mcp-session:${name}`;
  }
  /** Ended MCP sessions, for the replicas' copies. */
  get mcpSessionChannel(): string {
    return `${this.prefix}mcp-sessions-ended`;
  }
  interaction(id: string): string {
    return `${this.prefix}interaction:${id}`;
  }
  code(codeHash: string): string {
    return `${this.prefix}code:${codeHash}`;
  }

  /** The prefix every key of one grant's family starts with (its hash tag included). */
  family(grantId: string): string {
    return `${this.prefix}{g:${inTag(grantId)}}:`;
  }
  grant(grantId: string): string {
    return `${this.family(grantId)}grant`;
  }
  refreshToken(grantId: string, tokenHash: string): string {
    return `${this.family(grantId)}rt:${tokenHash}`;
  }
  /** The newest issue time of the family's refresh tokens: when the grant last got a token. */
  lastUse(grantId: string): string {
    return `${this.family(grantId)}last-use`;
  }
  /** token hash → grant id, to find a refresh token's family from the token alone. */
  refreshTokenIndex(tokenHash: string): string {
    return `${this.prefix}rt:${tokenHash}`;
  }
  /** The grant ids of one user and client, for withdrawing consent. */
  grantsOf(subject: string, clientId: string): string {
    return `${this.prefix}grants-of:${inTag(subject)}:${inTag(clientId)}`;
  }

  /**
   * Grant ids kept for the operator listings, each scored by the grant's absolute end
   * (`expires_at`), so live grants are a range and expired ones can be dropped by score: every
   * grant, a user's, a client's.
   */
  get grantIndex(): string {
    return `${this.prefix}grants:all`;
  }
  grantsBySubject(subject: string): string {
    return `${this.prefix}grants:by-subject:${inTag(subject)}`;
  }
  grantsByClient(clientId: string): string {
    return `${this.prefix}grants:by-client:${inTag(clientId)}`;
  }

  accessToken(jti: string): string {
    return `${this.prefix}at:${jti}`;
  }

  signingKey(kid: string): string {
    return `${this.signingKeyPrefix}${kid}`;
  }
  get signingKeyPrefix(): string {
    return `${this.prefix}{keys}:k:`;
  }
  get signingKeys(): string {
    return `${this.prefix}{keys}:all`;
  }

  /**
   * A gateway rate-limit window (per address, subject or session). Every window shares one hash
   * tag: a request's address, subject and session are counted by one script, so on a Cluster
   * they must live in one slot (and so on one master, which serves far more scripts per second
   * than the gateway's requests need). The key is after the tag, so no value can reach it.
   */
  rateLimit(key: string): string {
    return `${this.prefix}{rl}:${key}`;
  }

  /** An identifier used once (src/store/replay.ts); its own key, so any slot of a cluster. */
  replay(key: string): string {
    return `${this.prefix}once:${key}`;
  }

  counter(key: string, windowStart: number): string {
    return `${this.prefix}ctr:${windowStart}:${key}`;
  }

  /** A SCAN pattern matching keys that begin with `start` (glob characters escaped). */
  pattern(start: string, rest = '*'): string {
    return `${start.replace(/[*?[\]\\]/g, (char) => `\\${char}`)}${rest}`;
  }
}
