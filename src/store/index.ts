/**
 * Persistent state behind one interface: memory and SQLite backends, each run
 * against the same contract suite (test/store/contract.ts).
 */
export { MemoryStore } from './memory.ts';
export { openStore } from './open.ts';
export { SqliteStore, type SqliteStoreOptions, StoreSchemaError } from './sqlite.ts';
export {
  type AccessTokenRecord,
  type ClientRecord,
  CODE_REPLAY_MEMORY_MS,
  type CodeRecord,
  type ConsentRecord,
  type ConsumeCodeResult,
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
  type UserRecord,
} from './types.ts';
