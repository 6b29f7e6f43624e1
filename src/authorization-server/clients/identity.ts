import { isLoopbackHost } from '../../lib/host.ts';
import { type Client, isConfidential } from './client.ts';

/**
 * Whether the client of a request is really the one the person consented to before, so that a
 * remembered consent may stand in for the consent page (RFC 8252 §8.6). A confidential client
 * proves itself at the token endpoint; a public client only through a claimed https redirect
 * URI. A loopback redirect (any port, any local program) or any other public client's request
 * could come from an impersonator, so the person is asked every time.
 */
export function clientIdentityAssured(client: Client, redirectUri: string): boolean {
  if (isConfidential(client)) return true;
  if (!URL.canParse(redirectUri)) return false;
  const url = new URL(redirectUri);
  return url.protocol === 'https:' && !isLoopbackHost(url.hostname);
}
