import { isIP } from 'node:net';
import { BoundedAnswer, type Gateway } from '../proxy/index.ts';
import type { HostPolicy } from './front-checks.ts';

/**
 * /readyz on the main listener answers any Host, because orchestrators probe the pod's own
 * address rather than the public host. Its detail (which upstreams are reachable, whether the
 * key set loaded) is for operators, though: a page that rebinds its own name to the gateway's
 * address (DNS rebinding) would read it. So a Host the gateway serves, or an IP literal (which
 * rebinding cannot produce: the page's origin is a name), gets the checks; any other name gets
 * the status alone, with the same status code.
 */
export async function readinessFor(
  gateway: Pick<Gateway, 'readyz' | 'readiness'>,
  hosts: HostPolicy,
  host: string | undefined,
): Promise<BoundedAnswer> {
  if (mayReadDetails(hosts, host)) return gateway.readyz();
  const { status } = await gateway.readiness();
  return new BoundedAnswer(
    status === 'ready' ? 200 : 503,
    { 'content-type': 'application/json', 'cache-control': 'no-store' },
    JSON.stringify({ status }),
  );
}

function mayReadDetails(hosts: HostPolicy, host: string | undefined): boolean {
  if (host === undefined) return false;
  const bare = /^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '');
  if (isIP(bare) !== 0) return true;
  try {
    hosts.checkHost(host);
    return true;
  } catch {
    return false;
  }
}
