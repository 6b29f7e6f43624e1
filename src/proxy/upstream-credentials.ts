import { RequestError } from '../errors/index.ts';
import type { JsonRpcMessage } from '../mcp/index.ts';
import type { UpstreamSettings } from './routes.ts';

/**
 * What an HTTP upstream receives as credentials: the static headers of the config
 * (`headers`, or `credentials: { type: static }`), or the calling person's own credential from
 * their identity provider (`identity_provider_token`, `token_exchange`). The client's
 * Portcullis token is never among them: the client's Authorization header is not forwarded.
 */
export interface UpstreamCredentialSource {
  /** Whether this upstream's credentials are per person. */
  handles(upstream: string): boolean;
  /**
   * The headers for one request of `subject` to `upstream`. Throws RequestError
   * UpstreamCredentialUnavailable (with a `reauthorize_url` detail) when the person's credential
   * is missing or cannot be renewed: then nothing is sent upstream.
   */
  headersFor(upstream: string, subject: string): Promise<Record<string, string>>;
}

/** The static headers of an upstream, from either way of writing them. */
export function staticHeadersOf(upstream: UpstreamSettings): Readonly<Record<string, string>> {
  const credentials = upstream.credentials;
  return credentials?.type === 'static' ? credentials.headers : upstream.headers;
}

/** The headers the gateway sets for `subject`'s request, lower-cased. */
export async function upstreamCredentialHeaders(
  upstream: UpstreamSettings,
  subject: string | undefined,
  source: UpstreamCredentialSource | undefined,
): Promise<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(staticHeadersOf(upstream))) {
    headers[name.toLowerCase()] = value;
  }
  const credentials = upstream.credentials;
  if (credentials === undefined || credentials.type === 'static') return headers;
  if (source === undefined || subject === undefined || !source.handles(upstream.name)) {
    // Fail closed: a per-person upstream never gets a request without the person's credential.
    throw new RequestError(
      'UpstreamCredentialUnavailable',
      'no credential for this upstream is available',
    );
  }
  for (const [name, value] of Object.entries(await source.headersFor(upstream.name, subject))) {
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

/** MCP 2025-11-25 "URL mode elicitation": the error that asks the person to visit a URL. */
export const URL_ELICITATION_REQUIRED = -32042;

/**
 * The answer to a request whose person must sign in again at their provider: a JSON-RPC error
 * carrying a URL elicitation (the MCP way to send a person to a page), so the client can show
 * it. Undefined for anything that is not a credential problem of a request.
 */
export function reauthorizeAnswer(error: unknown, message: JsonRpcMessage): Response | undefined {
  if (!(error instanceof RequestError) || error.code !== 'UpstreamCredentialUnavailable') {
    return undefined;
  }
  if (message.kind !== 'request') return undefined;
  const url = error.details.reauthorize_url;
  const body = {
    jsonrpc: '2.0',
    id: message.id,
    error: {
      code: URL_ELICITATION_REQUIRED,
      message: error.message,
      data: {
        elicitations:
          url === undefined
            ? []
            : [
                {
                  mode: 'url',
                  elicitationId: crypto.randomUUID(),
                  url,
                  message: error.message,
                },
              ],
      },
    },
  };
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json' },
  });
}
