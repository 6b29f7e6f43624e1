/**
 * Persistent state behind one interface: memory, SQLite and Redis backends, each
 * run against the same contract suite (test/store/contract.ts).
 */
export { isStoreUnavailable, StoreSchemaError, StoreUnavailableError } from './errors.ts';
export { MemoryStore } from './memory.ts';
export { openStore, redisSettings } from './open.ts';
export { RedisStore } from './redis.ts';
export { describeRedisUrl, type RedisSettings } from './redis-connection.ts';
export { RedisRateLimiter } from './redis-rate-limit.ts';
export { RedisRevocationCache } from './redis-revocation-cache.ts';
export { type McpSessionRecord, RedisSessionDirectory } from './redis-sessions.ts';
export { createStoreReplayCache, type StoreReplayCache } from './replay.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
export {
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
  type JsonValue,
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
