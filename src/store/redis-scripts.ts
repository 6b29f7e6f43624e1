/**
 * The Lua scripts behind every compare-and-set of the Redis store. Redis runs a script as one
 * command: no other client's command runs between its reads and its writes, on a single server or
 * on the cluster node owning the script's slot (Redis "Scripting with Lua", atomicity). Every key a
 * script touches shares one hash tag (src/store/redis-keys.ts); keys built inside a script from a
 * prefix passed as an argument stay within that tag.
 *
 * Records are Redis hashes of strings; an absent field is an undefined value. Numbers are
 * milliseconds, compared with `tonumber` (exact for integers below 2^53).
 */

/** Marks a grant revoked, or leaves a tombstone when it is unknown; 1 when newly revoked. */
const REVOKE_GRANT_FUNCTION = `
local function revoke_grant(key, grant_id, now, tombstone_expires_at, tombstone_ttl)
  if redis.call('EXISTS', key) == 1 then
    if redis.call('HEXISTS', key, 'revoked_at') == 1 then return 0 end
    redis.call('HSET', key, 'revoked_at', now)
    return 1
  end
  redis.call('HSET', key, 'grant_id', grant_id, 'kind', 'authorization_code', 'subject', '',
    'client_id', '', 'resource', '', 'scopes', '[]', 'created_at', now,
    'expires_at', tombstone_expires_at, 'revoked_at', now)
  redis.call('PEXPIRE', key, tombstone_ttl)
  return 1
end
`;

/**
 * Records that a refresh token was issued at `issued_at` for the family whose last-use key is
 * `key`: keeps the later time, and the longer of the key's remaining life and `life`.
 */
const NOTE_USE_FUNCTION = `
local function note_use(key, issued_at, life)
  local current = redis.call('GET', key)
  local value = issued_at
  if current and tonumber(current) > tonumber(issued_at) then value = current end
  local keep = tonumber(life)
  local left = redis.call('PTTL', key)
  if left > keep then keep = left end
  redis.call('SET', key, value, 'PX', keep)
end
`;

export const SCRIPTS = {
  /** KEYS: user, user set. ARGV: username, created_at, then field pairs. A reset keeps created_at. */
  putUser: {
    numberOfKeys: 2,
    lua: `
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[1])
return 1`,
  },

  /** KEYS: federated identity, federated set. ARGV: subject, then field pairs. Replaces it. */
  putFederatedIdentity: {
    numberOfKeys: 2,
    lua: `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1`,
  },

  /**
   * KEYS: user set, federated set. 1 when some user has no federated identity. More users than
   * federated identities means at least one is local; otherwise each user is checked.
   */
  hasLocalUsers: {
    numberOfKeys: 2,
    lua: `
if redis.call('SCARD', KEYS[1]) > redis.call('SCARD', KEYS[2]) then return 1 end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('SISMEMBER', KEYS[2], name) == 0 then return 1 end
end
return 0`,
  },

  /**
   * KEYS: federated identity. ARGV: '1' and the sealed tokens expected, or '0' and '' for none;
   * '1' and the new sealed tokens, or '0' and '' to drop them; updated_at. Compare-and-set: 1
   * when the identity exists and held what was expected (so of two refreshes one wins).
   */
  replaceProviderTokens: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local current = redis.call('HGET', KEYS[1], 'sealed_tokens')
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'sealed_tokens', ARGV[4], 'updated_at', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'sealed_tokens')
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[5])
end
return 1`,
  },

  /**
   * KEYS: client, never-used set, used set. ARGV: client id, created_at, last_used_at or '',
   * then field pairs.
   */
  putClient: {
    numberOfKeys: 3,
    lua: `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
return 1`,
  },

  /** KEYS: client, never-used set, used set. ARGV: client id, now. */
  touchClient: {
    numberOfKeys: 3,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_used_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1`,
  },

  /** KEYS: never-used set, used set. ARGV: client key prefix, never-used-before, last-used-before. */
  pruneClients: {
    numberOfKeys: 2,
    lua: `
local removed = 0
local sets = { { KEYS[1], ARGV[2] }, { KEYS[2], ARGV[3] } }
for _, set in ipairs(sets) do
  local ids = redis.call('ZRANGEBYSCORE', set[1], '-inf', '(' .. set[2])
  for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[1] .. id)
    redis.call('ZREM', set[1], id)
    removed = removed + 1
  end
end
return removed`,
  },

  /** KEYS: consent, consent set. ARGV: client id, then field pairs. */
  putConsent: {
    numberOfKeys: 2,
    lua: `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1`,
  },

  /** KEYS: consent, consent set. ARGV: client id. 1 when it existed. */
  deleteConsent: {
    numberOfKeys: 2,
    lua: `
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`,
  },

  /** KEYS: a set of ids. ARGV: record key prefix. Every record the set names, as HGETALL arrays. */
  listHashes: {
    numberOfKeys: 1,
    lua: `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local record = redis.call('HGETALL', ARGV[1] .. id)
  if #record > 0 then table.insert(out, record) end
end
return out`,
  },

  /** KEYS: interaction. The record, deleted in the same step (exactly one taker). */
  takeInteraction: {
    numberOfKeys: 1,
    lua: `
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return false end
redis.call('DEL', KEYS[1])
return record`,
  },

  /** KEYS: code. ARGV: now. {status, record} or nil (RFC 6749 §4.1.2: a code is used once). */
  consumeCode: {
    numberOfKeys: 1,
    lua: `
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return false end
if redis.call('HEXISTS', KEYS[1], 'consumed_at') == 1 then return { 'replayed', record } end
redis.call('HSET', KEYS[1], 'consumed_at', ARGV[1])
return { 'consumed', record }`,
  },

  /** KEYS: grant. ARGV: ttl ms, then field pairs. A revocation already recorded is kept. */
  putGrant: {
    numberOfKeys: 1,
    lua: `
local revoked = redis.call('HGET', KEYS[1], 'revoked_at')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if revoked then redis.call('HSET', KEYS[1], 'revoked_at', revoked) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`,
  },

  /** KEYS: grant. ARGV: grant id, now, tombstone expires_at, tombstone ttl. */
  revokeGrant: {
    numberOfKeys: 1,
    lua: `${REVOKE_GRANT_FUNCTION}
return revoke_grant(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])`,
  },

  /**
   * KEYS: grant. ARGV: subject, client id, now. Revokes the grant when it belongs to that user
   * and client and is live; 1 when newly revoked.
   */
  revokeGrantOf: {
    numberOfKeys: 1,
    lua: `
local g = redis.call('HMGET', KEYS[1], 'subject', 'client_id', 'revoked_at')
if g[1] ~= ARGV[1] or g[2] ~= ARGV[2] or g[3] then return 0 end
redis.call('HSET', KEYS[1], 'revoked_at', ARGV[3])
return 1`,
  },

  /** KEYS: access token. ARGV: now. Marks it revoked when it exists and is not yet. */
  revokeAccessToken: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'revoked_at', ARGV[1])`,
  },

  /**
   * The refresh-token compare-and-set (RFC 9700 §4.14.2), same order of checks as the SQLite
   * store. KEYS: old token, grant, successor, the family's last use. ARGV: client id, now, grace
   * ms, family prefix, grace blob, successor ttl, successor hash, successor issued_at, then the
   * successor's field pairs.
   * Returns {status, ...}: rotated + previous record, grace + blob + previous record, reused,
   * revoked, expired, wrong-client, not-found.
   */
  rotateRefreshToken: {
    numberOfKeys: 4,
    lua: `${NOTE_USE_FUNCTION}
local old = redis.call('HMGET', KEYS[1], 'client_id', 'rotated_at', 'successor_hash', 'grace_blob', 'expires_at')
if not old[1] then return { 'not-found' } end
if old[1] ~= ARGV[1] then return { 'wrong-client' } end
local now = tonumber(ARGV[2])
local grant = redis.call('HMGET', KEYS[2], 'grant_id', 'revoked_at', 'expires_at')
if not grant[1] or grant[2] then return { 'revoked' } end
if old[2] then
  local successor_unused = false
  if old[3] then
    local successor = redis.call('HMGET', ARGV[4] .. 'rt:' .. old[3], 'token_hash', 'rotated_at')
    successor_unused = successor[1] ~= false and successor[2] == false
  end
  if now - tonumber(old[2]) <= tonumber(ARGV[3]) and successor_unused and old[4] then
    return { 'grace', old[4], redis.call('HGETALL', KEYS[1]) }
  end
  redis.call('HSET', KEYS[2], 'revoked_at', ARGV[2])
  return { 'reused' }
end
if tonumber(old[5]) <= now or tonumber(grant[3]) <= now then return { 'expired' } end
local previous = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], 'rotated_at', ARGV[2], 'successor_hash', ARGV[7], 'grace_blob', ARGV[5])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 9))
redis.call('PEXPIRE', KEYS[3], ARGV[6])
note_use(KEYS[4], ARGV[8], ARGV[6])
return { 'rotated', previous }`,
  },

  /**
   * KEYS: refresh token, the family's last use. ARGV: ttl ms, issued_at, then field pairs.
   * Writes the token and moves the family's last use forward in one step.
   */
  putRefreshToken: {
    numberOfKeys: 2,
    lua: `${NOTE_USE_FUNCTION}
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
note_use(KEYS[2], ARGV[2], ARGV[1])
return 1`,
  },

  /** KEYS: the family's last use. ARGV: ttl ms, issued_at (schema upgrade of existing tokens). */
  noteGrantUse: {
    numberOfKeys: 1,
    lua: `${NOTE_USE_FUNCTION}
note_use(KEYS[1], ARGV[2], ARGV[1])
return 1`,
  },

  /** KEYS: grant, the family's last use. {grant as HGETALL, last use or ''}; nil when no grant. */
  grantListing: {
    numberOfKeys: 2,
    lua: `
local grant = redis.call('HGETALL', KEYS[1])
if #grant == 0 then return false end
return { grant, redis.call('GET', KEYS[2]) or '' }`,
  },

  /** KEYS: never-used set, used set. ARGV: client key prefix. Every client, as HGETALL arrays. */
  listClients: {
    numberOfKeys: 2,
    lua: `
local out = {}
for _, set in ipairs({ KEYS[1], KEYS[2] }) do
  for _, id in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    local record = redis.call('HGETALL', ARGV[1] .. id)
    if #record > 0 then table.insert(out, record) end
  end
end
return out`,
  },

  /** KEYS: client. ARGV: disabled_at, or '' to enable. 1 when the client exists. */
  setClientDisabled: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'disabled_at')
else
  redis.call('HSET', KEYS[1], 'disabled_at', ARGV[1])
end
return 1`,
  },

  /** KEYS: client, never-used set, used set. ARGV: client id. 1 when it existed. */
  deleteClient: {
    numberOfKeys: 3,
    lua: `
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1])`,
  },

  /** KEYS: signing key. ARGV: field pairs. Changes an existing key only. */
  updateSigningKey: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1`,
  },

  /** KEYS: signing key set. ARGV: key prefix, now. Deletes keys past their expiry. */
  purgeSigningKeys: {
    numberOfKeys: 1,
    lua: `
local removed = 0
for _, kid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local expires = redis.call('HGET', ARGV[1] .. kid, 'expires_at')
  if expires == false and redis.call('EXISTS', ARGV[1] .. kid) == 0 then
    redis.call('SREM', KEYS[1], kid)
  elseif expires and tonumber(expires) < tonumber(ARGV[2]) then
    redis.call('DEL', ARGV[1] .. kid)
    redis.call('SREM', KEYS[1], kid)
    removed = removed + 1
  end
end
return removed`,
  },

  /** KEYS: counter. ARGV: ttl ms. Adds one; the first increment of a window sets its expiry. */
  incrementCounter: {
    numberOfKeys: 1,
    lua: `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`,
  },

  /**
   * KEYS: rate-limit windows (any number, all of one hash slot). ARGV: window ms. One request
   * counted against each: {count, ms left} per key, flat, in order. A window starts at the key's
   * first request and ends with the key (a fixed window, like the in-memory limiter's), so one
   * round trip decides every limit of a request at once. The counters are not written to the AOF
   * nor sent to replicas (redis.set_repl, effects replication): a window lives a minute, so losing
   * it in a restart or failover costs one fresh window, while writing it would cost an fsync per
   * request under appendfsync always.
   */
  rateLimit: {
    numberOfKeys: undefined,
    lua: `
redis.set_repl(redis.REPL_NONE)
local out = {}
for _, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    left = tonumber(ARGV[1])
  end
  table.insert(out, count)
  table.insert(out, left)
end
return out`,
  },

  /**
   * KEYS: a replay entry. ARGV: until, now, ttl ms. Records an identifier used once (a DPoP
   * proof's jti, RFC 9449 §11.1; an assertion's jti, RFC 7523 §3): 1 when this call recorded it,
   * 0 when it is held past `now` (a replay). Set-if-absent in one command, so of two replicas
   * seeing the same identifier at once exactly one gets 1. The entry holds its logical deadline,
   * so the answer follows the caller's clock; the key's own expiry only frees the memory.
   */
  rememberOnce: {
    numberOfKeys: 1,
    lua: `
local held = tonumber(redis.call('GET', KEYS[1]))
if held and held > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`,
  },

  /** KEYS: meta. ARGV: a version. Raises the data set's version to it (never lowers it). */
  raiseSchema: {
    numberOfKeys: 1,
    lua: `
local current = tonumber(redis.call('HGET', KEYS[1], 'schema') or '0')
if current < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'schema', ARGV[1]) end
return tonumber(redis.call('HGET', KEYS[1], 'schema'))`,
  },

  /** KEYS: meta. ARGV: the version this code writes. The version the data set holds. */
  schemaVersion: {
    numberOfKeys: 1,
    lua: `
redis.call('HSETNX', KEYS[1], 'schema', ARGV[1])
return tonumber(redis.call('HGET', KEYS[1], 'schema'))`,
  },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
