import type { Store } from '../../store/index.ts';
import type { Client } from './client.ts';

/**
 * Whether an error may be sent back to a client's redirect URI rather than shown on a page
 * (RFC 9700 §4.11.2): anyone can register a client or publish a metadata document, so its
 * redirect URI is trusted only once the operator registered it or the signed-in person has
 * granted that client access before. Otherwise the server would be an open redirector to any
 * URI a stranger registered a minute ago.
 */
export async function errorRedirectTrusted(
  store: Store,
  client: Client,
  subject: string | undefined,
): Promise<boolean> {
  if (client.kind === 'pre-registered') return true;
  if (subject === undefined) return false;
  return (await store.getConsent(subject, client.clientId)) !== undefined;
}
