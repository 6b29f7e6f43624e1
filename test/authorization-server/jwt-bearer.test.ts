import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { stringify } from 'yaml';
import { federatedSubject } from '../../src/authorization-server/federation/subject.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import {
  buildKeySet,
  createAccessTokenVerifier,
  createStaticKeySource,
} from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { DocumentServer } from './document-server.ts';
import {
  baseDocument,
  CONFIDENTIAL_SECRET,
  createHarness,
  type Document,
  type Harness,
  register,
} from './harness.ts';

/*
 * The JWT bearer grant (RFC 7523) for enterprise-managed authorization (ID-JAG) and workload
 * identity federation. The enterprise IdP and the workload issuer are keys made here with jose,
 * their JWKS served on the test origin.
 */

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.example';
const WORKLOAD_ISSUER = 'https://workloads.example';
const SPIFFE_ID = 'spiffe://example.org/ns/prod/sa/agent';

type Signer = { privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK };
async function signer(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}
const idpKey = await signer('idp-1');
const workloadKey = await signer('wl-1');
const attackerKey = await signer('idp-1');

// Client ID metadata documents: one client a provider lists, one it does not.
const docs = await new DocumentServer().start();
const LISTED_DOCUMENT = `${docs.url}/listed.json`;

function configure(document: Document): void {
  const origin = `http://${String(document.remote_mcp.bind_address)}`;
  document.development = { allow_loopback_urls: true };
  const as = document.authorization_server;
  (as.clients as Record<string, unknown>[]).push(
    {
      client_id: 'agent',
      client_secret_env: 'CONFIDENTIAL_SECRET',
      redirect_uris: ['https://agent.example/cb'],
      grant_types: [GRANT],
      scope: ['files:read', 'files:write'],
    },
    {
      client_id: 'other-agent',
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
  as.trusted_identity_providers = [
    {
      issuer: IDP,
      jwks_url: `${origin}/idp/jwks`,
      algorithms: ['ES256'],
      allowed_clients: ['agent', 'other-agent', LISTED_DOCUMENT],
    },
    {
      issuer: WORKLOAD_ISSUER,
      jwks_url: `${origin}/workloads/jwks`,
      algorithms: ['ES256'],
      allowed_clients: ['workload'],
      kind: 'workload',
      required_claims: { sub: SPIFFE_ID },
    },
  ];
}

let h: Harness;
before(async () => {
  h = await createHarness({
    edit: configure,
    extra: (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/idp/jwks') return Response.json({ keys: [idpKey.jwk] });
      if (path === '/workloads/jwks') return Response.json({ keys: [workloadKey.jwk] });
      return undefined;
    },
  });
});
after(async () => {
  await h.close();
  await docs.close();
});

let counter = 0;
interface AssertionOptions {
  readonly key?: Signer;
  readonly typ?: string | undefined;
  readonly claims?: Record<string, unknown>;
  readonly iss?: string;
  readonly aud?: string;
  readonly iat?: number;
  readonly exp?: number;
  readonly omitJti?: boolean;
}
async function idJag(options: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(h.clock.now / 1000);
  const key = options.key ?? idpKey;
  const header: Record<string, unknown> = { alg: 'ES256', kid: key.jwk.kid };
  const typ = 'typ' in options ? options.typ : 'oauth-id-jag+jwt';
  if (typ !== undefined) header.typ = typ;
  let jwt = new SignJWT({
    client_id: 'agent',
    resource: h.resource,
    scope: 'files:read files:write',
    ...options.claims,
  })
    .setProtectedHeader(header as never)
    .setIssuer(options.iss ?? IDP)
    .setSubject('alice@corp.example')
    .setAudience(options.aud ?? h.issuer)
    .setIssuedAt(options.iat ?? now)
    .setExpirationTime(options.exp ?? now + 300);
  if (!options.omitJti) jwt = jwt.setJti(`jag-${++counter}`);
  return jwt.sign(key.privateKey);
}

function redeem(assertion: string, client = 'agent', extra: Record<string, string> = {}) {
  return h.token({ grant_type: GRANT, assertion, ...extra }, [client, CONFIDENTIAL_SECRET]);
}

describe('metadata (enterprise-managed authorization)', () => {
  test('grant_types_supported and authorization_grant_profiles_supported', async () => {
    const metadata = (await (
      await fetch(`${h.url}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, string[]>;
    assert.ok(metadata.grant_types_supported?.includes(GRANT));
    assert.deepEqual(metadata.authorization_grant_profiles_supported, [
      'urn:ietf:params:oauth:grant-profile:id-jag',
    ]);
  });
});

describe('ID-JAG negative table: invalid_grant, nothing issued', () => {
  const alg = (header: Record<string, unknown>, payload: Record<string, unknown>) =>
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
  const cases: [
    string,
    () => Promise<{ assertion: string; client?: string; form?: Record<string, string> }>,
    number,
    string,
  ][] = [
    [
      'untrusted issuer',
      async () => ({ assertion: await idJag({ iss: 'https://evil.example', key: attackerKey }) }),
      400,
      'invalid_grant',
    ],
    [
      'trusted issuer, key it never published',
      async () => ({ assertion: await idJag({ key: attackerKey }) }),
      400,
      'invalid_grant',
    ],
    [
      'wrong aud',
      async () => ({ assertion: await idJag({ aud: 'https://other-as.example' }) }),
      400,
      'invalid_grant',
    ],
    [
      'wrong resource',
      async () => ({
        assertion: await idJag({ claims: { resource: 'https://elsewhere.example/mcp' } }),
      }),
      400,
      'invalid_grant',
    ],
    [
      'resource parameter differs',
      async () => ({ assertion: await idJag(), form: { resource: `${h.url}/other` } }),
      400,
      'invalid_grant',
    ],
    [
      "another client's assertion",
      async () => ({ assertion: await idJag({ claims: { client_id: 'other-agent' } }) }),
      400,
      'invalid_grant',
    ],
    [
      'expired',
      async () => ({
        assertion: await idJag({
          iat: Math.floor(h.clock.now / 1000) - 900,
          exp: Math.floor(h.clock.now / 1000) - 600,
        }),
      }),
      400,
      'invalid_grant',
    ],
    [
      'lives too long',
      async () => ({ assertion: await idJag({ exp: Math.floor(h.clock.now / 1000) + 86_400 }) }),
      400,
      'invalid_grant',
    ],
    ['no jti', async () => ({ assertion: await idJag({ omitJti: true }) }), 400, 'invalid_grant'],
    [
      'wrong typ (JWT)',
      async () => ({ assertion: await idJag({ typ: 'JWT' }) }),
      400,
      'invalid_grant',
    ],
    [
      'wrong typ (at+jwt)',
      async () => ({ assertion: await idJag({ typ: 'at+jwt' }) }),
      400,
      'invalid_grant',
    ],
    ['no typ', async () => ({ assertion: await idJag({ typ: undefined }) }), 400, 'invalid_grant'],
    [
      'alg none',
      async () => ({
        assertion: alg(
          { alg: 'none', typ: 'oauth-id-jag+jwt' },
          {
            iss: IDP,
            sub: 'alice',
            aud: h.issuer,
            client_id: 'agent',
            resource: h.resource,
            jti: 'none-1',
            iat: Math.floor(h.clock.now / 1000),
            exp: Math.floor(h.clock.now / 1000) + 60,
          },
        ),
      }),
      400,
      'invalid_grant',
    ],
    ['not a JWT', async () => ({ assertion: 'not-a-jwt' }), 400, 'invalid_grant'],
    [
      'client not allowed for the provider',
      async () => ({
        assertion: await idJag({ claims: { client_id: 'machine' } }),
        client: 'machine',
      }),
      400,
      'unauthorized_client',
    ],
    ['valid ID-JAG (positive control)', async () => ({ assertion: await idJag() }), 200, ''],
  ];
  for (const [name, make, status, error] of cases) {
    test(name, async () => {
      const { assertion, client, form } = await make();
      const issuedBefore = h.eventsNamed('oauth.token.issued').length;
      const answer = await redeem(assertion, client, form);
      assert.equal(answer.status, status, answer.text);
      if (status === 200) {
        assert.equal(h.eventsNamed('oauth.token.issued').length, issuedBefore + 1);
        assert.equal(answer.body.token_type, 'Bearer');
        assert.equal(answer.body.refresh_token, undefined);
      } else {
        assert.equal(answer.body.error, error);
        assert.equal(answer.body.access_token, undefined);
        assert.equal(h.eventsNamed('oauth.token.issued').length, issuedBefore);
      }
    });
  }

  test('replayed jti: the second redemption is refused and issues nothing', async () => {
    const assertion = await idJag();
    assert.equal((await redeem(assertion)).status, 200);
    const issuedBefore = h.eventsNamed('oauth.token.issued').length;
    const again = await redeem(assertion);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    assert.equal(h.eventsNamed('oauth.token.issued').length, issuedBefore);
  });
});

describe('the token from an ID-JAG', () => {
  test('subject from iss + sub, scopes requested ∩ asserted ∩ allowed, audience the resource', async () => {
    const assertion = await idJag({ claims: { scope: 'files:read admin' } });
    const answer = await redeem(assertion, 'agent', { scope: 'files:read files:write admin' });
    assert.equal(answer.status, 200, answer.text);
    const claims = decodeJwt(String(answer.body.access_token));
    assert.equal(claims.sub, federatedSubject(IDP, 'alice@corp.example'));
    assert.equal(claims.scope, 'files:read');
    assert.equal(answer.body.scope, 'files:read');
    assert.equal(claims.aud, h.resource);
    assert.equal(claims.client_id, 'agent');
  });

  test('nothing of what was requested can be granted: invalid_scope', async () => {
    const answer = await redeem(await idJag({ claims: { scope: 'files:read' } }), 'agent', {
      scope: 'admin',
    });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_scope');
  });

  test('the gateway refuses an ID-JAG presented as an access token (typ)', async () => {
    const verifier = createAccessTokenVerifier({
      issuer: IDP,
      audiences: [h.issuer, h.resource],
      algorithms: ['ES256'],
      tokenIdSecret: Buffer.from(HMAC_SECRET),
      allowedScopes: ['files:read'],
      keys: createStaticKeySource(await buildKeySet({ keys: [idpKey.jwk] }, ['ES256'], undefined)),
      now: () => h.clock.now,
    });
    await assert.rejects(verifier.verify(await idJag()), { code: 'AuthTokenInvalid' });
    await assert.rejects(verifier.verify(await idJag({ aud: h.resource })), {
      code: 'AuthTokenInvalid',
    });
  });
});

describe('workload identity federation', () => {
  async function workloadJwt(claims: Record<string, unknown> = {}, sub = SPIFFE_ID) {
    const now = Math.floor(h.clock.now / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'wl-1', typ: 'JWT' })
      .setIssuer(WORKLOAD_ISSUER)
      .setSubject(sub)
      .setAudience(h.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .setJti(`wl-${++counter}`)
      .sign(workloadKey.privateKey);
  }
  const workload = (assertion: string, form: Record<string, string> = {}) =>
    h.token({ grant_type: GRANT, assertion, client_id: 'workload', ...form });

  const cases: [string, () => Promise<string>, Record<string, string>, number, string][] = [
    [
      'another workload (sub rule)',
      () => workloadJwt({}, 'spiffe://example.org/ns/dev/sa/other'),
      { resource: '' },
      400,
      'invalid_grant',
    ],
    ['no resource', () => workloadJwt(), {}, 400, 'invalid_target'],
    [
      'resource not ours',
      () => workloadJwt(),
      { resource: 'https://elsewhere.example/mcp' },
      400,
      'invalid_target',
    ],
    [
      'an ID-JAG typ from the workload issuer',
      () => workloadJwt().then(async () => idJag({ iss: WORKLOAD_ISSUER, key: workloadKey })),
      { resource: '' },
      400,
      'invalid_grant',
    ],
    ['valid workload JWT (positive control)', () => workloadJwt(), { resource: '' }, 200, ''],
  ];
  for (const [name, make, form, status, error] of cases) {
    test(name, async () => {
      const filled = Object.fromEntries(
        Object.entries(form).map(([k, v]) => [k, k === 'resource' && v === '' ? h.resource : v]),
      );
      const answer = await workload(await make(), filled);
      assert.equal(answer.status, status, answer.text);
      if (status === 200) {
        const claims = decodeJwt(String(answer.body.access_token));
        assert.equal(claims.sub, federatedSubject(WORKLOAD_ISSUER, SPIFFE_ID));
        assert.equal(claims.scope, 'files:read');
      } else {
        assert.equal(answer.body.error, error);
      }
    });
  }
});

describe('configuration', () => {
  test('a client with the JWT bearer grant must be listed by a trusted provider', () => {
    const document = baseDocument(8080);
    (document.authorization_server.clients as Record<string, unknown>[]).push({
      client_id: 'unlisted',
      client_secret_env: 'CONFIDENTIAL_SECRET',
      redirect_uris: ['https://x.example/cb'],
      grant_types: [GRANT],
    });
    assert.throws(
      () =>
        loadConfigText(stringify(document), {
          env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET },
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some((issue) => issue.path === 'authorization_server.clients[4].grant_types'),
    );
  });
});

describe('which registered clients may carry the JWT bearer grant', () => {
  test('a metadata-document client a provider lists redeems an assertion (no user)', async () => {
    docs.document('/listed.json', { grant_types: [GRANT] });
    const answer = await h.token({
      grant_type: GRANT,
      client_id: LISTED_DOCUMENT,
      assertion: await idJag({ claims: { client_id: LISTED_DOCUMENT } }),
    });
    assert.equal(answer.status, 200, answer.text);
  });

  test('a metadata document no provider lists may not declare the grant', async () => {
    const url = docs.document('/unlisted.json', { grant_types: ['authorization_code', GRANT] });
    const answer = await h.token({
      grant_type: GRANT,
      client_id: url,
      assertion: await idJag({ claims: { client_id: url } }),
    });
    // The document itself is refused (RFC 7591 §3.2.2 error for a metadata document).
    assert.equal(answer.status, 400, answer.text);
    assert.equal(answer.body.error, 'invalid_client_metadata');
    assert.match(String(answer.body.error_description), /trusted identity provider/);
  });

  test('dynamic registration with the grant is refused', async () => {
    const answer = await register(h, {
      redirect_uris: ['http://127.0.0.1/cb'],
      grant_types: ['authorization_code', GRANT],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_client_metadata');
    assert.match(String(answer.body.error_description), /trusted identity provider/);
  });
});
