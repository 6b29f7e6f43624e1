import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { federatedSubject } from '../../src/authorization-server/federation/subject.ts';
import { obtainIdJag, redeemAssertion } from '../../src/client/assertion-grant.ts';
import type { Discovery } from '../../src/client/discovery.ts';
import {
  dpopAlgorithmFor,
  dpopRequestHeaders,
  dpopResourceFetch,
  dpopSessionFor,
  dpopTokenFetch,
  newDpopKey,
  parseDpopMode,
} from '../../src/client/dpop.ts';
import type { StoredClient } from '../../src/client/types.ts';
import { ClientError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import {
  authenticateRequest,
  buildChallenge,
  buildKeySet,
  createAccessTokenVerifier,
  createDpopNonces,
  createDpopProofVerifier,
  createMemoryReplayCache,
  createStaticKeySource,
} from '../../src/resource-server/index.ts';
import {
  CONFIDENTIAL_SECRET,
  createHarness,
  type Document,
  type Harness,
} from '../authorization-server/harness.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';

/*
 * The client side of DPoP and of assertion logins, against real peers: the co-located
 * authorization server (DPoP at the token endpoint, the JWT bearer grant), an enterprise
 * identity provider's token exchange endpoint served here, and a resource that authenticates
 * with the gateway's own presentation rules.
 */

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.example';
const WORKLOADS = 'https://workloads.example';
const SPIFFE_ID = 'spiffe://example.org/agent';

type Signer = { privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK };
async function signer(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}
const idpKey = await signer('idp');
const workloadKey = await signer('wl');
const idTokenKey = await signer('id-token');

let h: Harness;
const idpRequests: URLSearchParams[] = [];

function configure(document: Document): void {
  const origin = `http://${String(document.remote_mcp.bind_address)}`;
  document.development = { allow_loopback_urls: true };
  document.remote_mcp.dpop_nonces = true;
  const upstreams = document.upstreams as Record<string, unknown>[];
  if (upstreams[0]) upstreams[0].dpop = 'allowed';
  (document.authorization_server.clients as Record<string, unknown>[]).push(
    {
      client_id: 'agent',
      client_secret_env: 'CONFIDENTIAL_SECRET',
      redirect_uris: ['https://agent.example/cb'],
      grant_types: [GRANT],
    },
    {
      client_id: 'workload',
      redirect_uris: ['https://workload.example/cb'],
      grant_types: [GRANT],
      scope: ['files:read'],
    },
  );
  document.authorization_server.trusted_identity_providers = [
    {
      issuer: IDP,
      jwks_url: `${origin}/idp/jwks`,
      algorithms: ['ES256'],
      allowed_clients: ['agent'],
    },
    {
      issuer: WORKLOADS,
      jwks_url: `${origin}/workloads/jwks`,
      algorithms: ['ES256'],
      allowed_clients: ['workload'],
      kind: 'workload',
      required_claims: { sub: SPIFFE_ID },
    },
  ];
}

/** The enterprise IdP's RFC 8693 endpoint: ID token in, ID-JAG out. */
async function idpToken(request: Request): Promise<Response> {
  const form = new URLSearchParams(await request.text());
  idpRequests.push(form);
  const refuse = (error: string) => Response.json({ error }, { status: 400 });
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') {
    return refuse('unsupported_grant_type');
  }
  if (
    form.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:id_token' ||
    form.get('requested_token_type') !== 'urn:ietf:params:oauth:token-type:id-jag'
  ) {
    return refuse('invalid_request');
  }
  try {
    const { payload } = await jwtVerify(
      form.get('subject_token') ?? '',
      await importJWK(idTokenKey.jwk, 'ES256'),
      { issuer: IDP, audience: 'idp-client' },
    );
    const now = Math.floor(h.clock.now / 1000);
    const jag = await new SignJWT({
      client_id: 'agent',
      resource: form.get('resource'),
      scope: form.get('scope') ?? 'files:read',
    })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp', typ: 'oauth-id-jag+jwt' })
      .setIssuer(IDP)
      .setSubject(String(payload.sub))
      .setAudience(form.get('audience') ?? '')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .setJti(`jag-${idpRequests.length}`)
      .sign(idpKey.privateKey);
    return Response.json({
      access_token: jag,
      issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
      token_type: 'N_A',
      expires_in: 300,
    });
  } catch {
    return refuse('invalid_grant');
  }
}

before(async () => {
  h = await createHarness({
    edit: configure,
    deps: () => ({
      dpopProofs: createDpopProofVerifier({
        context: 'token-endpoint',
        replay: createMemoryReplayCache(),
        nonces: createDpopNonces({ secret: Buffer.from(HMAC_SECRET) }),
        // The SDK signs proofs with the real clock; everything else follows the test clock.
        now: Date.now,
      }),
    }),
    extra: async (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/idp/jwks') return Response.json({ keys: [idpKey.jwk] });
      if (path === '/workloads/jwks') return Response.json({ keys: [workloadKey.jwk] });
      if (path === '/idp/token') return idpToken(request);
      return undefined;
    },
  });
});
after(() => h.close());

const fetchLoopback = createGuardedFetch({ allowLoopback: true });

async function discovery(): Promise<Discovery> {
  const metadata = (await (
    await fetch(`${h.url}/.well-known/oauth-authorization-server`)
  ).json()) as Discovery['metadata'];
  return {
    resource: h.resource,
    issuer: h.issuer,
    metadata,
    defaultEndpoints: false,
    legacy: false,
  };
}

const workloadClient: StoredClient = {
  issuer: '',
  client_id: 'workload',
  source: 'pre-registered',
};
const agentClient: StoredClient = {
  issuer: '',
  client_id: 'agent',
  client_secret: CONFIDENTIAL_SECRET,
  token_endpoint_auth_method: 'client_secret_basic',
  source: 'pre-registered',
};

async function workloadJwt(sub = SPIFFE_ID): Promise<string> {
  const now = Math.floor(h.clock.now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'wl', typ: 'JWT' })
    .setIssuer(WORKLOADS)
    .setSubject(sub)
    .setAudience(h.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(crypto.randomUUID())
    .sign(workloadKey.privateKey);
}

describe('--dpop modes', () => {
  const meta = (algs?: unknown) =>
    ({
      issuer: 'https://as.example',
      ...(algs === undefined ? {} : { dpop_signing_alg_values_supported: algs }),
    }) as never;
  test('auto uses DPoP when advertised, with a preferred algorithm', () => {
    assert.equal(dpopAlgorithmFor('auto', meta(['RS256', 'ES256'])), 'ES256');
    assert.equal(dpopAlgorithmFor('auto', meta(['PS256'])), 'PS256');
    assert.equal(dpopAlgorithmFor('auto', meta()), undefined);
    assert.equal(dpopAlgorithmFor('auto', meta(['none', 'HS256'])), undefined);
  });
  test('required refuses a server without DPoP; off never uses it', () => {
    assert.throws(() => dpopAlgorithmFor('required', meta()), ClientError);
    assert.throws(() => dpopAlgorithmFor('required', meta(['none'])), ClientError);
    assert.equal(dpopAlgorithmFor('off', meta(['ES256'])), undefined);
    assert.equal(parseDpopMode(undefined), 'auto');
    assert.throws(() => parseDpopMode('sometimes'), ClientError);
  });
});

describe('the stored DPoP key', () => {
  test('round-trips through its stored form with the same thumbprint', async () => {
    const stored = await newDpopKey('ES256');
    assert.ok(stored.private_jwk.d);
    const session = await dpopSessionFor(JSON.parse(JSON.stringify(stored)));
    assert.equal(session.thumbprint, stored.jkt);
    const proof = await session.buildProof({ htm: 'POST', htu: 'https://a.example/x' });
    assert.equal(decodeJwt(proof).htm, 'POST');
  });
  test('a key whose thumbprint does not match is refused', async () => {
    const stored = await newDpopKey('ES256');
    const other = await newDpopKey('ES256');
    await assert.rejects(dpopSessionFor({ ...stored, jkt: other.jkt }), ClientError);
  });
});

describe('token requests through an SDK without DPoP of its own', () => {
  test('dpopTokenFetch adds a proof, answers use_dpop_nonce once, and gets a bound token', async () => {
    const stored = await newDpopKey('ES256');
    const session = await dpopSessionFor(stored);
    let sent = 0;
    const counting = (input: string | URL | Request, init?: RequestInit) => {
      sent++;
      return fetch(input, init);
    };
    const tokenFetch = dpopTokenFetch(session, `${h.url}/oauth/token`, counting);
    const response = await tokenFetch(`${h.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`machine:${CONFIDENTIAL_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: h.resource,
      }).toString(),
    });
    const body = (await response.json()) as Record<string, string>;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(String(body.access_token)).cnf, { jkt: stored.jkt });
    assert.equal(sent, 2, 'one nonce challenge, one retry');
    // Requests elsewhere pass untouched (positive control of the scoping).
    const other = await tokenFetch(`${h.url}/.well-known/oauth-authorization-server`);
    assert.equal(other.status, 200);
    assert.equal(sent, 3);
    const headers = await dpopRequestHeaders(session, {
      method: 'POST',
      url: `${h.url}/mcp`,
      token: String(body.access_token),
    });
    assert.match(headers.authorization, /^DPoP /);
    assert.equal(decodeJwt(headers.dpop).htu, `${h.url}/mcp`);
  });
});

describe('workload identity: --assertion-file', () => {
  test('a workload JWT is redeemed for a DPoP-bound token (the AS asked for a nonce first)', async () => {
    const stored = await newDpopKey('ES256');
    const session = await dpopSessionFor(stored);
    const found = await discovery();
    assert.equal(dpopAlgorithmFor('auto', found.metadata), 'ES256');
    const tokens = await redeemAssertion(
      { discovery: found, client: workloadClient, fetch: fetchLoopback, dpop: session },
      await workloadJwt(),
      undefined,
    );
    assert.equal(tokens.token_type, 'DPoP');
    const claims = decodeJwt(tokens.access_token);
    assert.deepEqual(claims.cnf, { jkt: stored.jkt });
    assert.equal(claims.sub, federatedSubject(WORKLOADS, SPIFFE_ID));
    assert.ok(session.nonceFor(h.url), 'the AS nonce is remembered');
  });

  test('a refused workload JWT fails once, with the OAuth error, and is not retried', async () => {
    const before = h.eventsNamed('oauth.token.refused').length;
    const error = await redeemAssertion(
      { discovery: await discovery(), client: workloadClient, fetch: fetchLoopback },
      await workloadJwt('spiffe://example.org/intruder'),
      undefined,
    ).catch((e: unknown) => e);
    assert.ok(error instanceof ClientError);
    assert.match(error.message, /invalid_grant/);
    assert.equal(h.eventsNamed('oauth.token.refused').length, before + 1);
  });
});

describe('enterprise-managed authorization: ID token → ID-JAG → access token', () => {
  test('the token exchange at the IdP and the JWT bearer grant at the AS', async () => {
    const now = Math.floor(h.clock.now / 1000);
    const idToken = await new SignJWT({ email: 'alice@corp.example' })
      .setProtectedHeader({ alg: 'ES256', kid: 'id-token' })
      .setIssuer(IDP)
      .setSubject('alice')
      .setAudience('idp-client')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(idTokenKey.privateKey);
    const jag = await obtainIdJag({
      idpTokenEndpoint: `${h.url}/idp/token`,
      idToken,
      idpClientId: 'idp-client',
      audience: h.issuer,
      resource: h.resource,
      scope: 'files:read',
      fetch: fetchLoopback,
    });
    const exchange = idpRequests.at(-1);
    assert.equal(exchange?.get('audience'), h.issuer);
    assert.equal(exchange?.get('resource'), h.resource);
    const tokens = await redeemAssertion(
      { discovery: await discovery(), client: agentClient, fetch: fetchLoopback },
      jag,
      'files:read',
    );
    assert.equal(tokens.token_type, 'Bearer');
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.sub, federatedSubject(IDP, 'alice'));
    assert.equal(claims.scope, 'files:read');
    assert.equal(claims.client_id, 'agent');
  });

  test('an IdP refusal surfaces as a client error', async () => {
    await assert.rejects(
      obtainIdJag({
        idpTokenEndpoint: `${h.url}/idp/token`,
        idToken: 'not.a.token',
        idpClientId: 'idp-client',
        audience: h.issuer,
        resource: h.resource,
        fetch: fetchLoopback,
      }),
      (error: unknown) => error instanceof ClientError && /invalid_grant/.test(error.message),
    );
  });
});

describe('requests to the resource with a bound token', () => {
  let url = '';
  let server: ReturnType<typeof createServer>;
  let seen = 0;
  before(async () => {
    const keySet = await buildKeySet(await h.as.publicKeySet(), ['ES256'], undefined);
    const verifier = createAccessTokenVerifier({
      issuer: h.issuer,
      audiences: [h.resource],
      algorithms: ['ES256'],
      tokenIdSecret: Buffer.from(HMAC_SECRET),
      allowedScopes: ['files:read'],
      keys: createStaticKeySource(keySet),
      acceptDpopBound: true,
      now: () => h.clock.now,
    });
    const proofs = createDpopProofVerifier({
      context: 'resource',
      replay: createMemoryReplayCache(),
      nonces: createDpopNonces({ secret: Buffer.alloc(32, 9) }),
    });
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      authenticateRequest(
        {
          authorization: request.headers.authorization,
          dpop: request.headers.dpop,
          method: request.method ?? 'GET',
          url: `${url}${request.url ?? ''}`,
        },
        { mode: 'allowed', verifier, proofs },
      ).then(
        (access) => {
          seen++;
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ constrained: access.senderConstrained }));
        },
        (error: unknown) => {
          const rendered = buildChallenge(error, {
            resourceMetadataUrl: `${url}/.well-known/oauth-protected-resource`,
            dpop: { algorithms: proofs.algorithms, bearer: true },
          });
          response.writeHead(rendered.status, rendered.headers);
          response.end(rendered.body);
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('DPoP scheme, proof with ath, and the nonce retry (RFC 9449 §9)', async () => {
    const stored = await newDpopKey('ES256');
    const session = await dpopSessionFor(stored);
    const tokens = await redeemAssertion(
      { discovery: await discovery(), client: workloadClient, fetch: fetchLoopback, dpop: session },
      await workloadJwt(),
      undefined,
    );
    const before = seen;
    const client = dpopResourceFetch(session, () => tokens.access_token, fetch);
    const response = await client(`${url}/mcp`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), { constrained: true });
    assert.equal(seen, before + 1);
    // The same token without its proof is refused: the upstream would see nothing.
    const bare = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    assert.equal(bare.status, 401);
    assert.equal(seen, before + 1);
  });
});
