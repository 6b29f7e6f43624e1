import { REQUEST_ERRORS, type RequestError } from '../errors/index.ts';
import { asRequestError, type Challenge, renderError } from '../errors/render.ts';
import type { HttpAnswer } from '../lib/http-answer.ts';
import { CORS_HEADERS } from './http.ts';
import { runSteps, type Step } from './pipeline.ts';
import type { Exchange } from './services.ts';

/**
 * One endpoint of the authorization server, as data: its steps, and how its errors are shown.
 * Endpoints return answers as data or throw catalogued RequestErrors; `runEndpoint`, the one
 * wrapper, does what every endpoint used to do in its own catch block: log an internal failure,
 * let the endpoint record the refusal, render the error in the endpoint's form.
 */
export interface Endpoint<S extends Exchange = Exchange> {
  /** For the log line of an internal failure. */
  readonly name: string;
  /**
   * How errors are shown: 'oauth', RFC 6749 §5.2 JSON for clients (token, registration,
   * revocation, introspection); 'page', an HTML page for a person (sign-in, consent, account,
   * and authorization requests whose client or redirect URI is not known good).
   */
  readonly errors: 'oauth' | 'page';
  /**
   * The scheme a 401 challenges with: 'basic' where the client authenticates (RFC 6749 §5.2),
   * 'bearer' where an initial access token is expected (RFC 7591 §3, RFC 6750 §3).
   */
  readonly challenge?: 'basic' | 'bearer';
  /** Answers browser scripts from any origin (token, revocation, registration, metadata). */
  readonly cors: boolean;
  /** The state the steps share, from the exchange. */
  readonly begin: (exchange: Exchange) => S;
  /** The steps for this request (by method, say). */
  readonly steps: (state: S) => readonly Step<S>[];
  /**
   * Told of every refusal before it is rendered: records it (audit), and may answer it another
   * way than the endpoint's form, such as a redirect back to the client (RFC 6749 §4.1.2.1).
   */
  readonly refused?: (
    state: S,
    error: RequestError,
  ) => Promise<HttpAnswer | undefined> | HttpAnswer | undefined;
}

/** Runs an endpoint; always resolves to an answer (errors rendered), never rejects. */
export async function runEndpoint<S extends Exchange>(
  endpoint: Endpoint<S>,
  exchange: Exchange,
): Promise<HttpAnswer> {
  const state = endpoint.begin(exchange);
  try {
    return await runSteps(endpoint.steps(state), state);
  } catch (error) {
    const known = asRequestError(error);
    if (known.status >= 500) {
      exchange.services.logger?.error({ err: error, code: known.code }, `${endpoint.name} failed`);
    }
    try {
      const answer = await endpoint.refused?.(state, known);
      if (answer !== undefined) return answer;
    } catch (failure) {
      // Recording or redirecting the refusal failed: the refusal itself still stands.
      exchange.services.logger?.error(
        { err: failure },
        `${endpoint.name}: refusal handling failed`,
      );
    }
    return renderEndpointError(known, endpoint, exchange);
  }
}

/** An error in the endpoint's form, with its challenge and CORS headers. */
export function renderEndpointError(
  error: RequestError,
  endpoint: Pick<Endpoint, 'errors' | 'challenge' | 'cors'>,
  exchange: Exchange,
): HttpAnswer {
  const challenge =
    error.status === 401 && endpoint.errors === 'oauth'
      ? challengeFor(endpoint.challenge ?? 'basic', error, exchange.services.settings.issuer)
      : undefined;
  return renderError(error, {
    form: endpoint.errors,
    ...(challenge === undefined ? {} : { challenge }),
    ...(endpoint.cors ? { cors: CORS_HEADERS } : {}),
  });
}

function challengeFor(scheme: 'basic' | 'bearer', error: RequestError, realm: string): Challenge {
  if (scheme === 'basic') return { scheme: 'Basic', params: [['realm', realm]] };
  // RFC 6750 §3.1: the catalogue's OAuth code; none when no credentials came at all.
  const code = REQUEST_ERRORS[error.code].oauth;
  return {
    scheme: 'Bearer',
    params:
      code === undefined
        ? [['realm', realm]]
        : [
            ['realm', realm],
            ['error', code],
          ],
  };
}
