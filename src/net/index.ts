/**
 * Outbound HTTP for URLs that someone else named, behind the SSRF guard (loopback, private and
 * link-local addresses are refused unless a development switch allows loopback). Free of any
 * caller's specifics: the resource server, the authorization server and the client use it.
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
