/**
 * Outbound HTTP for URLs that someone else named, behind the SSRF guard (design.md §9). Free of
 * any caller's specifics: the resource server, the authorization server and the client use it.
 */
export {
  type AddressClass,
  classifyAddress,
  isBlockedAddress,
  isLoopbackAddress,
} from './address.ts';
export {
  createGuardedFetch,
  DEFAULT_FETCH_MAX_BYTES,
  DEFAULT_FETCH_TIMEOUT_MS,
  type GuardedFetch,
  type GuardedFetchOptions,
} from './guarded-fetch.ts';
export type { Resolver } from './lookup.ts';
