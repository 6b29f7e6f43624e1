import { RequestError } from '../../errors/index.ts';
import { metadataToJson, validateClientMetadata } from '../checks/client-metadata.ts';
import { parseClientMetadataJson } from '../checks/json-body.ts';
import { randomToken, safeEqual, sha256 } from '../crypto.ts';
import type { Endpoint } from '../endpoint.ts';
import { jsonReply, mediaType, NO_STORE, readBody } from '../http.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { LIMITS } from '../settings.ts';

interface State extends Exchange {
  body?: unknown;
}

/** Dynamically registered client ids never look like URLs (CIMD §7.1): `dyn_` and 128 random bits. */
const newClientId = () => `dyn_${randomToken(16)}`;

/**
 * POST /oauth/register (RFC 7591), when dynamic_registration is open or token. Requests are
 * rate-limited per address, the number of clients is capped, and clients never used within a
 * day (or unused for 90 days) are removed.
 */
const STEPS: readonly Step<State>[] = [
  step('initial access token, when required', (state) => {
    const { settings } = state.services;
    if (settings.dynamicRegistration !== 'token') return undefined;
    const header = state.request.headers.get('authorization');
    if (header === null) {
      throw new RequestError('AuthTokenMissing', 'registration needs an initial access token');
    }
    const match = /^Bearer ([\x21-\x7E]+)$/.exec(header.trim());
    const expected = state.services.initialAccessToken;
    if (
      match?.[1] === undefined ||
      expected === undefined ||
      !safeEqual(sha256(match[1]), sha256(expected))
    ) {
      throw new RequestError('AuthTokenInvalid', 'the initial access token is not valid');
    }
    return undefined;
  }),
  step('rate limit per address', async (state) => {
    const address = state.context.clientAddress;
    if (address === undefined) return undefined;
    const count = await state.services.store.incrementCounter(
      `register:address:${address}`,
      LIMITS.registrationWindowMs,
      state.services.now(),
    );
    if (count > LIMITS.registrationsPerAddress) {
      throw new RequestError('RateLimited', 'too many registrations from this address', {
        details: { retryAfter: String(Math.ceil(LIMITS.registrationWindowMs / 1000)) },
      });
    }
    return undefined;
  }),
  step('JSON body, bounded, no duplicate members', async (state) => {
    if (mediaType(state.request) !== 'application/json') {
      throw new RequestError('OAuthInvalidClientMetadata', 'the body must be application/json');
    }
    const bytes = await readBody(state.request, LIMITS.registrationMaxBytes);
    state.body = parseClientMetadataJson(bytes.toString('utf8'));
    return undefined;
  }),
  step('room for another client', async (state) => {
    const { store, now } = state.services;
    const at = now();
    await store.pruneClients(at - LIMITS.neverUsedClientMs, at - LIMITS.unusedClientMs);
    if ((await store.countClients()) >= LIMITS.maxDynamicClients) {
      throw new RequestError('CapacityExceeded', 'no room for more registered clients');
    }
    return undefined;
  }),
  step('validate and register', async (state) => {
    const { settings, store, now } = state.services;
    const metadata = validateClientMetadata(state.body, 'registration', settings.allowedScopes);
    const clientId = newClientId();
    const secret = metadata.token_endpoint_auth_method === 'none' ? undefined : randomToken(32);
    const issuedAt = now();
    const stored = metadataToJson(metadata);
    await store.putClient({
      clientId,
      secretHash: secret === undefined ? undefined : sha256(secret),
      metadata: stored,
      createdAt: issuedAt,
      lastUsedAt: undefined,
    });
    audit(state, { event: 'oauth.client.registered', decision: 'allow', client_id: clientId });
    return jsonReply(
      201,
      {
        ...stored,
        client_id: clientId,
        client_id_issued_at: Math.floor(issuedAt / 1000),
        ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
      },
      NO_STORE,
    );
  }),
];

export const registerEndpoint: Endpoint<State> = {
  name: 'registration endpoint',
  errors: 'oauth',
  challenge: 'bearer',
  cors: true,
  begin: (exchange) => ({ ...exchange }),
  steps: () => STEPS,
  refused(state, error) {
    audit(state, {
      event: 'oauth.client.refused',
      decision: error.status >= 500 ? 'error' : 'deny',
      reason: error.code,
      status: error.status,
    });
    return undefined;
  },
};
