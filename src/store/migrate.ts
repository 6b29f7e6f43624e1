import { isDeepStrictEqual } from 'node:util';
import type { Store, StoreSnapshot } from './types.ts';

export interface MigrationCounts {
  readonly users: number;
  readonly clients: number;
  readonly consents: number;
  readonly grants: number;
  readonly refreshTokens: number;
  readonly accessTokens: number;
  readonly signingKeys: number;
  readonly federatedIdentities: number;
}

export type MigrationResult =
  /** Every record was written to the target. */
  | { readonly status: 'migrated'; readonly counts: MigrationCounts }
  /** The target already holds every source record unchanged (a re-run): nothing written. */
  | { readonly status: 'up-to-date'; readonly counts: MigrationCounts }
  /** The target holds other data and `force` was not given: nothing written. */
  | { readonly status: 'refused'; readonly targetCounts: MigrationCounts };

const KINDS = [
  'users',
  'clients',
  'consents',
  'grants',
  'refreshTokens',
  'accessTokens',
  'signingKeys',
  'federatedIdentities',
] as const;

/** The identity of a record within its kind, to match a source record with the target's. */
const IDENTITY: { [K in (typeof KINDS)[number]]: (record: StoreSnapshot[K][number]) => string } = {
  users: (record) => (record as StoreSnapshot['users'][number]).username,
  clients: (record) => (record as StoreSnapshot['clients'][number]).clientId,
  consents: (record) => {
    const consent = record as StoreSnapshot['consents'][number];
    return `${consent.subject}\u0000${consent.clientId}`;
  },
  grants: (record) => (record as StoreSnapshot['grants'][number]).grantId,
  refreshTokens: (record) => (record as StoreSnapshot['refreshTokens'][number]).tokenHash,
  accessTokens: (record) => (record as StoreSnapshot['accessTokens'][number]).jti,
  signingKeys: (record) => (record as StoreSnapshot['signingKeys'][number]).kid,
  federatedIdentities: (record) => (record as StoreSnapshot['federatedIdentities'][number]).subject,
};

export function countRecords(snapshot: StoreSnapshot): MigrationCounts {
  return {
    users: snapshot.users.length,
    clients: snapshot.clients.length,
    consents: snapshot.consents.length,
    grants: snapshot.grants.length,
    refreshTokens: snapshot.refreshTokens.length,
    accessTokens: snapshot.accessTokens.length,
    signingKeys: snapshot.signingKeys.length,
    federatedIdentities: snapshot.federatedIdentities.length,
  };
}

/** True when every record of `source` is in `target`, field for field. */
function contains(target: StoreSnapshot, source: StoreSnapshot): boolean {
  return KINDS.every((kind) => {
    const identity = IDENTITY[kind] as (record: unknown) => string;
    const held = new Map((target[kind] as readonly unknown[]).map((r) => [identity(r), r]));
    return (source[kind] as readonly unknown[]).every((record) =>
      isDeepStrictEqual(held.get(identity(record)), record),
    );
  });
}

/**
 * Copies users, clients, consents, grants (with their refresh and access tokens, revoked ones
 * included, so a revocation survives the move), signing keys and federated identities (their
 * provider tokens stay sealed) from one store to another.
 * A target holding other data is left alone unless `force`; a target that already holds the
 * source's records is left alone too, so running a migration twice is harmless.
 */
export async function migrateStore(
  source: Store,
  target: Store,
  options: { readonly force: boolean },
): Promise<MigrationResult> {
  const data = await source.exportSnapshot();
  const existing = await target.exportSnapshot();
  const counts = countRecords(data);
  if (contains(existing, data)) return { status: 'up-to-date', counts };
  const targetCounts = countRecords(existing);
  const targetEmpty = Object.values(targetCounts).every((count) => count === 0);
  if (!targetEmpty && !options.force) return { status: 'refused', targetCounts };
  await target.importSnapshot(data);
  return { status: 'migrated', counts };
}
