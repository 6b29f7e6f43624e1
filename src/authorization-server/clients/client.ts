import type { AuthMethod } from '../checks/client-metadata.ts';

/** A client as every endpoint sees it, whichever way it was registered. */
export interface Client {
  readonly clientId: string;
  readonly kind: 'pre-registered' | 'dynamic' | 'metadata-document';
  /** Shown on the consent page (escaped); undefined when the client gave none. */
  readonly name: string | undefined;
  readonly redirectUris: readonly string[];
  readonly grantTypes: readonly string[];
  /** How it may authenticate at the token endpoint; `none` alone for public clients. */
  readonly authMethods: readonly AuthMethod[];
  /** SHA-256 (base64url) of its secret, for confidential clients. */
  readonly secretHash: string | undefined;
  /** Scopes it may request; the default when it requests none. */
  readonly scopes: readonly string[];
}

export function isConfidential(client: Client): boolean {
  return client.secretHash !== undefined;
}
