/**
 * Shared types of the MCP client. `GuardedFetch` is structurally identical to the one exported
 * by src/net (the SSRF guard): a fetch for URLs that someone else named, whose Response has its
 * body already read and capped, that never follows (nor returns) a redirect, and that rejects
 * with RequestError('FetchBlocked' | 'FetchFailed'). The client takes it by injection so that
 * callers decide the policy; every discovered URL goes through it.
 */
export type GuardedFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Where the client reports progress for a person (standard error in the CLI). */
export type ClientNotice = (text: string) => void;

/** Tokens as the client keeps them: the token response plus the absolute expiry. */
export interface StoredTokens {
  readonly access_token: string;
  readonly token_type: string;
  readonly refresh_token?: string;
  /** Granted scope as the token response stated it (RFC 6749 §5.1), when it did. */
  readonly scope?: string;
  /** Scope the client asked for when it obtained these tokens (space-delimited, may be empty). */
  readonly requested_scope?: string;
  /** Milliseconds since the epoch; undefined when the server gave no `expires_in`. */
  readonly expires_at?: number;
}

/** A client registered (or pre-registered, or identified by a metadata document) at one issuer. */
export interface StoredClient {
  readonly issuer: string;
  readonly client_id: string;
  readonly client_secret?: string;
  readonly client_secret_expires_at?: number;
  readonly token_endpoint_auth_method?: string;
  readonly redirect_uris?: readonly string[];
  /** Grant types of a dynamic registration (RFC 7591 §2), when known. */
  readonly grant_types?: readonly string[];
  /** How the client ID was obtained. */
  readonly source: 'pre-registered' | 'metadata-document' | 'dynamic';
}
