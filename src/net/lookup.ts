import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { BlockedAddressError, type DestinationPolicy, refuseAddress } from './policy.ts';

/** A resolver with the signature of `dns.lookup` (options object form). */
export type Resolver = (
  hostname: string,
  options: { all: true; family?: number; hints?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) =>
  dnsLookup(hostname, options, callback);

/**
 * Wraps a resolver so that every answer is checked before the socket may connect. All answers
 * must pass (a name with one public and one private address is refused), and the socket then
 * connects only to the addresses checked here: there is no second resolution to rebind.
 */
export function guardedLookup(
  policy: DestinationPolicy,
  requireLoopback: boolean,
  resolver: Resolver = systemResolver,
): LookupFunction {
  return (hostname, options, callback) => {
    resolver(
      hostname,
      {
        all: true,
        family: options.family === 'IPv6' ? 6 : options.family === 'IPv4' ? 4 : options.family,
        hints: options.hints,
      },
      (error, addresses) => {
        if (error) {
          callback(error, '', 0);
          return;
        }
        if (!Array.isArray(addresses) || addresses.length === 0) {
          callback(
            Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }),
            '',
            0,
          );
          return;
        }
        for (const answer of addresses) {
          const reason = refuseAddress(answer.address, policy, requireLoopback);
          if (reason !== undefined) {
            callback(new BlockedAddressError(`${hostname}: ${reason}`), '', 0);
            return;
          }
        }
        if (options.all) {
          (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
          return;
        }
        const [first] = addresses;
        callback(null, first?.address ?? '', first?.family ?? 4);
      },
    );
  };
}
