import { RequestError } from '../../errors/index.ts';
import type { Client } from '../clients/client.ts';
import { safeEqualHashed } from '../crypto.ts';
import type { AuthMethod } from './client-metadata.ts';
import type { Params } from './parameters.ts';

/** What a request presents to say which client it is. */
export interface PresentedClient {
  readonly clientId: string;
  readonly method: AuthMethod;
  readonly secret: string | undefined;
}

const invalidClient = (message: string) => new RequestError('OAuthInvalidClient', message);

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/**
 * Reads client credentials (RFC 6749 §2.3): HTTP Basic, or client_id and client_secret in the
 * body, or client_id alone for a public client. Using two methods at once is refused
 * (RFC 6749 §2.3: "MUST NOT use more than one authentication method in each request").
 */
export function presentedClient(request: Request, form: Params): PresentedClient {
  const header = request.headers.get('authorization');
  const bodyId = form.get('client_id');
  const bodySecret = form.get('client_secret');
  if (header !== null) {
    const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
    if (match?.[1] === undefined) throw invalidClient('the Authorization header is not HTTP Basic');
    if (bodySecret !== undefined) {
      throw new RequestError('OAuthInvalidRequest', 'more than one client authentication method');
    }
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw invalidClient('malformed Basic credentials');
    let clientId: string;
    let secret: string;
    try {
      clientId = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw invalidClient('malformed Basic credentials');
    }
    if (bodyId !== undefined && bodyId !== clientId) {
      throw new RequestError('OAuthInvalidRequest', 'client_id differs from the Basic credentials');
    }
    return { clientId, method: 'client_secret_basic', secret };
  }
  if (bodyId === undefined || bodyId === '') {
    throw invalidClient('client authentication is required (client_id)');
  }
  if (bodySecret !== undefined) {
    return { clientId: bodyId, method: 'client_secret_post', secret: bodySecret };
  }
  return { clientId: bodyId, method: 'none', secret: undefined };
}

/**
 * Authenticates the presented client: it must exist, use a method it is registered for, and a
 * confidential client's secret must match (compared as hashes, in constant time). A public
 * client that sends a secret is refused rather than the secret ignored.
 */
export function checkClientAuthentication(
  client: Client | undefined,
  presented: PresentedClient,
): Client {
  if (client === undefined) throw invalidClient('unknown client');
  if (!client.authMethods.includes(presented.method)) {
    throw invalidClient(
      client.secretHash === undefined
        ? 'this client is public and must not authenticate with a secret'
        : `this client must authenticate with ${client.authMethods.join(' or ')}`,
    );
  }
  if (client.secretHash !== undefined) {
    if (presented.secret === undefined || !safeEqualHashed(presented.secret, client.secretHash)) {
      throw invalidClient('client authentication failed');
    }
  }
  return client;
}
