import { RequestError } from '../errors/index.ts';
import type { ClientRecord, GrantListing, Store, UserRecord } from '../store/index.ts';
import { looksLikeClientIdUrl } from './checks/client-id-url.ts';
import type { Client } from './clients/client.ts';
import { forgetProviderTokens } from './federation/forget.ts';

/**
 * What an operator sees of and does to the authorization server's state: the `clients`,
 * `grants` and `users` commands and the admin page share these, so both say and do the same.
 * Every action that takes access away revokes the grants it concerns, so the gateway refuses
 * their access tokens at once (it checks revocation on every request; RFC 7009 §2).
 */

/** Who vouches for a client's name: the operator (config), a domain (metadata document), or nobody. */
export type Verification = 'operator' | 'domain' | 'unverified';

export interface ClientOverview {
  readonly clientId: string;
  readonly kind: Client['kind'];
  readonly name: string | undefined;
  readonly verification: Verification;
  readonly redirectUris: readonly string[];
  readonly createdAt: number | undefined;
  readonly lastUsedAt: number | undefined;
  readonly disabledAt: number | undefined;
  /** Grants neither revoked nor expired. */
  readonly liveGrants: number;
}

export function verificationOf(kind: Client['kind']): Verification {
  if (kind === 'pre-registered') return 'operator';
  return kind === 'metadata-document' ? 'domain' : 'unverified';
}

function fromRecord(record: ClientRecord, liveGrants: number): ClientOverview {
  const metadata = record.metadata as { client_name?: unknown; redirect_uris?: unknown };
  const kind = looksLikeClientIdUrl(record.clientId) ? 'metadata-document' : 'dynamic';
  return {
    clientId: record.clientId,
    kind,
    name: typeof metadata.client_name === 'string' ? metadata.client_name : undefined,
    verification: verificationOf(kind),
    redirectUris: Array.isArray(metadata.redirect_uris)
      ? metadata.redirect_uris.filter((uri): uri is string => typeof uri === 'string')
      : [],
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    disabledAt: record.disabledAt,
    liveGrants,
  };
}

async function liveGrantCounts(store: Store, now: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const grant of await store.listGrants({ liveAt: now })) {
    counts.set(grant.clientId, (counts.get(grant.clientId) ?? 0) + 1);
  }
  return counts;
}

/** Every client: the configuration's, then those registered in the store. */
export async function listClients(
  store: Store,
  preRegistered: readonly Client[],
  now: number,
): Promise<ClientOverview[]> {
  const counts = await liveGrantCounts(store, now);
  const configured = preRegistered.map(
    (client): ClientOverview => ({
      clientId: client.clientId,
      kind: client.kind,
      name: client.name,
      verification: 'operator',
      redirectUris: client.redirectUris,
      createdAt: undefined,
      lastUsedAt: undefined,
      disabledAt: undefined,
      liveGrants: counts.get(client.clientId) ?? 0,
    }),
  );
  const registered = (await store.listClients()).map((record) =>
    fromRecord(record, counts.get(record.clientId) ?? 0),
  );
  // Metadata-document clients are not stored until disabled: those holding live grants count.
  const listed = new Set([...configured, ...registered].map((client) => client.clientId));
  const documented = [...counts]
    .filter(([clientId]) => !listed.has(clientId) && looksLikeClientIdUrl(clientId))
    .map(([clientId, liveGrants]) => documentClient(clientId, liveGrants));
  return [...configured, ...registered, ...documented];
}

/** A metadata-document client known only by its grants (its document is not fetched here). */
function documentClient(clientId: string, liveGrants: number): ClientOverview {
  return {
    clientId,
    kind: 'metadata-document',
    name: undefined,
    verification: 'domain',
    redirectUris: [],
    createdAt: undefined,
    lastUsedAt: undefined,
    disabledAt: undefined,
    liveGrants,
  };
}

export async function showClient(
  store: Store,
  preRegistered: readonly Client[],
  clientId: string,
  now: number,
): Promise<ClientOverview & { readonly grants: GrantListing[] }> {
  const configured = preRegistered.find((client) => client.clientId === clientId);
  const record = configured === undefined ? await store.getClient(clientId) : undefined;
  const grants = await store.listGrants({ clientId });
  const live = grants.filter((g) => g.revokedAt === undefined && g.expiresAt > now).length;
  if (configured !== undefined) {
    return { ...((await listClients(store, [configured], now))[0] as ClientOverview), grants };
  }
  if (record !== undefined) return { ...fromRecord(record, live), grants };
  if (looksLikeClientIdUrl(clientId) && grants.length > 0) {
    return { ...documentClient(clientId, live), grants };
  }
  throw unknownClient(clientId);
}

function unknownClient(clientId: string): RequestError {
  return new RequestError('RecordNotFound', `no registered client has the id "${clientId}"`, {
    expose: true,
  });
}

function configuredClientRefusal(clientId: string, action: string): RequestError {
  return new RequestError(
    'RecordNotFound',
    `"${clientId}" is configured in authorization_server.clients, not registered: to ${action} it, edit the config`,
    { expose: true },
  );
}

/** Revokes every live grant matching the filter; returns how many. */
async function revokeLive(
  store: Store,
  filter: { subject?: string; clientId?: string },
  now: number,
): Promise<number> {
  let revoked = 0;
  for (const grant of await store.listGrants({ ...filter, liveAt: now })) {
    if (await store.revokeGrant(grant.grantId, now)) revoked++;
  }
  return revoked;
}

/**
 * Disables a registered client (or a metadata-document client, remembered by its URL) and
 * revokes its grants: its tokens stop working at the gateway now, and its next token request
 * fails as if it were unknown.
 */
export async function disableClient(
  store: Store,
  preRegistered: readonly Client[],
  clientId: string,
  now: number,
): Promise<{ revokedGrants: number }> {
  if (preRegistered.some((client) => client.clientId === clientId)) {
    throw configuredClientRefusal(clientId, 'disable');
  }
  if (!(await store.setClientDisabled(clientId, now))) {
    if (!looksLikeClientIdUrl(clientId)) throw unknownClient(clientId);
    // A metadata-document client has no record until disabled; this one remembers the refusal.
    await store.putClient({
      clientId,
      secretHash: undefined,
      metadata: {},
      createdAt: now,
      lastUsedAt: now,
      disabledAt: now,
    });
  }
  return { revokedGrants: await revokeLive(store, { clientId }, now) };
}

export async function enableClient(store: Store, clientId: string): Promise<void> {
  if (!(await store.setClientDisabled(clientId, undefined))) throw unknownClient(clientId);
}

/** Deletes a registered client and revokes its grants; it may register again (a new id). */
export async function deleteClient(
  store: Store,
  preRegistered: readonly Client[],
  clientId: string,
  now: number,
): Promise<{ revokedGrants: number }> {
  if (preRegistered.some((client) => client.clientId === clientId)) {
    throw configuredClientRefusal(clientId, 'delete');
  }
  const revokedGrants = await revokeLive(store, { clientId }, now);
  if (!(await store.deleteClient(clientId))) throw unknownClient(clientId);
  return { revokedGrants };
}

export async function listGrants(
  store: Store,
  filter: { readonly subject?: string; readonly all?: boolean },
  now: number,
): Promise<GrantListing[]> {
  return store.listGrants({
    ...(filter.subject === undefined ? {} : { subject: filter.subject }),
    ...(filter.all ? {} : { liveAt: now }),
  });
}

/**
 * Revokes one grant, and so every access and refresh token of its family. Revocation follows
 * the person: the provider tokens kept for their upstreams are dropped too (a federated person
 * signs in at the provider again before an upstream gets a credential for them).
 */
export async function revokeGrant(store: Store, grantId: string, now: number): Promise<boolean> {
  const grant = await store.getGrant(grantId);
  if (grant === undefined || grant.clientId === '') {
    throw new RequestError('RecordNotFound', `no grant has the id "${grantId}"`, { expose: true });
  }
  const revoked = await store.revokeGrant(grantId, now);
  await forgetProviderTokens(store, grant.subject, now);
  return revoked;
}

export interface UserOverview {
  readonly username: string;
  readonly disabled: boolean;
  readonly roles: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly liveGrants: number;
}

export async function listUsers(store: Store, now: number): Promise<UserOverview[]> {
  const live = await store.listGrants({ liveAt: now });
  return (await store.listUsers()).map((user) => ({
    username: user.username,
    disabled: user.disabled,
    roles: user.roles ?? [],
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    liveGrants: live.filter((grant) => grant.subject === user.username).length,
  }));
}

async function existingUser(store: Store, username: string): Promise<UserRecord> {
  const user = await store.getUser(username);
  if (user === undefined) {
    throw new RequestError('RecordNotFound', `no user is named "${username}"`, { expose: true });
  }
  return user;
}

/**
 * Disables a user: no sign-in, sessions end, every grant of theirs is revoked, and the provider
 * tokens kept for a federated person are dropped.
 */
export async function disableUser(
  store: Store,
  username: string,
  now: number,
): Promise<{ revokedGrants: number }> {
  const user = await existingUser(store, username);
  await store.putUser({ ...user, disabled: true, updatedAt: now });
  const revokedGrants = await revokeLive(store, { subject: username }, now);
  await forgetProviderTokens(store, username, now);
  return { revokedGrants };
}

export async function enableUser(store: Store, username: string, now: number): Promise<void> {
  const user = await existingUser(store, username);
  await store.putUser({ ...user, disabled: false, updatedAt: now });
}

export const ADMIN_ROLE = 'admin';

export async function setUserRoles(
  store: Store,
  username: string,
  roles: readonly string[],
  now: number,
): Promise<void> {
  const user = await existingUser(store, username);
  await store.putUser({ ...user, roles: [...new Set(roles)].sort(), updatedAt: now });
}

export function isAdmin(user: UserRecord | undefined): boolean {
  return user !== undefined && !user.disabled && (user.roles ?? []).includes(ADMIN_ROLE);
}

/** How the pages name a client: its name, who vouches for it, the host of a client_id URL. */
export function applicationOf(client: Client): {
  clientId: string;
  name: string | undefined;
  verification: Verification;
  clientIdHost: string | undefined;
} {
  return {
    clientId: client.clientId,
    name: client.name,
    verification: verificationOf(client.kind),
    clientIdHost: client.kind === 'metadata-document' ? new URL(client.clientId).host : undefined,
  };
}
