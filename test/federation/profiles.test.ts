/**
 * Provider profiles against recorded metadata (discovery documents as Entra ID, Google, Okta
 * and Keycloak publish them) and recorded token claims: which discovery URL a path issuer
 * uses, which issuers a profile accepts, what it adds to the request, what it checks after the
 * ID token; GitHub's user API instead of an ID token.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { scopesPermitted } from '../../src/authorization-server/federation/claim-rules.ts';
import { discover, discoveryUrl } from '../../src/authorization-server/federation/metadata.ts';
import { PROFILES } from '../../src/authorization-server/federation/profiles.ts';
import type { IdentityProviderConfig } from '../../src/config/schema.ts';
import { RequestError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';
import { providerFor, startProviderFixture } from './provider-fixture.ts';

const recorded = (name: string) =>
  JSON.parse(readFileSync(new URL(`./recorded/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

/** A fetch that answers one URL with a recorded document, and records what was asked. */
function recordedFetch(url: string, document: Record<string, unknown>) {
  const asked: string[] = [];
  const fetch = async (input: string | URL) => {
    asked.push(String(input));
    return String(input) === url
      ? new Response(JSON.stringify(document), { headers: { 'content-type': 'application/json' } })
      : new Response('not found', { status: 404 });
  };
  return { fetch, asked };
}

const config = (extra: Partial<IdentityProviderConfig>): IdentityProviderConfig => ({
  name: 'corp',
  profile: 'generic',
  client_id: 'portcullis',
  private_key_algorithm: 'RS256',
  scopes: ['openid'],
  id_token_algorithms: ['RS256'],
  ...extra,
});

describe('provider profiles', () => {
  it('Okta and Keycloak: issuers with a path discover at issuer + /.well-known/openid-configuration', async () => {
    for (const [name, issuer] of [
      ['okta', 'https://example.okta.com/oauth2/default'],
      ['keycloak', 'https://sso.example.com/realms/acme'],
    ] as const) {
      const url = discoveryUrl(issuer);
      assert.equal(url, `${issuer}/.well-known/openid-configuration`);
      const { fetch, asked } = recordedFetch(url, recorded(name));
      const metadata = await discover(fetch, issuer, (found) =>
        PROFILES[name].metadataIssuerMatches(issuer, found),
      );
      assert.deepEqual(asked, [url]);
      assert.equal(metadata.issuer, issuer);
      assert.ok(metadata.tokenEndpoint.startsWith(issuer));
      assert.equal(metadata.issParameterSupported, true, 'both send RFC 9207 iss');
      assert.ok(metadata.grantTypes.includes('urn:ietf:params:oauth:grant-type:token-exchange'));
    }
  });

  it('Entra ID: the tenant issuer by default; the multi-tenant template matches common, and a token must name its tenant', async () => {
    assert.equal(
      PROFILES.entra.defaultIssuer(config({ profile: 'entra', tenant: 'contoso.onmicrosoft.com' })),
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0',
    );
    const configured = 'https://login.microsoftonline.com/common/v2.0';
    const { fetch } = recordedFetch(discoveryUrl(configured), recorded('entra-common'));
    const metadata = await discover(fetch, configured, (found) =>
      PROFILES.entra.metadataIssuerMatches(configured, found),
    );
    assert.equal(metadata.issuer, 'https://login.microsoftonline.com/{tenantid}/v2.0');
    const tid = '9188040d-6c67-4c5b-b112-36a304b66dad';
    const issuerOf = PROFILES.entra.tokenIssuerMatches;
    assert.ok(issuerOf(metadata.issuer, `https://login.microsoftonline.com/${tid}/v2.0`, { tid }));
    assert.ok(
      !issuerOf(metadata.issuer, `https://login.microsoftonline.com/${tid}/v2.0`, {
        tid: '00000000-0000-0000-0000-000000000000',
      }),
      'the iss must be the tenant the token names',
    );
    assert.ok(!issuerOf(metadata.issuer, 'https://login.microsoftonline.com/{tenantid}/v2.0', {}));
    assert.ok(!PROFILES.generic.metadataIssuerMatches(configured, metadata.issuer));
  });

  it('Entra ID: a groups overage is refused when a rule needs groups, noted otherwise', () => {
    // As Entra sends it when the person is in more groups than fit in the token.
    const overage = {
      tid: '9188040d-6c67-4c5b-b112-36a304b66dad',
      oid: '00000000-0000-0000-66f3-3332eca7ea81',
      _claim_names: { groups: 'src1' },
      _claim_sources: {
        src1: {
          endpoint:
            'https://graph.windows.net/9188040d-6c67-4c5b-b112-36a304b66dad/users/00000000-0000-0000-66f3-3332eca7ea81/getMemberObjects',
        },
      },
    };
    const withGroupsRule = config({
      profile: 'entra',
      claim_rules: [{ claim: 'groups', contains: 'mcp', scopes: ['files:read'] }],
    });
    assert.throws(
      () => PROFILES.entra.checkClaims(withGroupsRule, overage),
      (error: unknown) =>
        error instanceof RequestError &&
        error.code === 'FederationProviderError' &&
        /groups overage/.test(error.message),
    );
    const noted = PROFILES.entra.checkClaims(config({ profile: 'entra' }), overage);
    assert.equal(noted.groups_overage, true);
    const normal = PROFILES.entra.checkClaims(withGroupsRule, { groups: ['mcp'] });
    assert.deepEqual(normal.groups, ['mcp']);
  });

  it('Entra ID: email grants nothing unless Entra says the domain owner verified it (xms_edov)', () => {
    const rules = [{ claim: 'email', ends_with: '@contoso.com', scopes: ['files:read'] }] as const;
    const entra = config({ profile: 'entra', claim_rules: [...rules] });
    const unverified = PROFILES.entra.checkClaims(entra, { email: 'ceo@contoso.com' });
    assert.deepEqual(scopesPermitted([...rules], unverified, ['files:read']), []);
    const verified = PROFILES.entra.checkClaims(entra, {
      email: 'ceo@contoso.com',
      xms_edov: true,
    });
    assert.deepEqual(scopesPermitted([...rules], verified, ['files:read']), ['files:read']);
  });

  it('Entra ID end to end: discovery under a template issuer, a token from tenant tid verifies', async () => {
    const op = await startProviderFixture('/common/v2.0');
    try {
      const origin = new URL(op.issuer).origin;
      op.metadata = { issuer: `${origin}/{tenantid}/v2.0` };
      const provider = providerFor(op.issuer, { profile: 'entra' });
      const tid = '9188040d-6c67-4c5b-b112-36a304b66dad';
      const now = Math.floor(Date.now() / 1000);
      const token = await op.sign({
        iss: `${origin}/${tid}/v2.0`,
        tid,
        sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ',
        aud: 'portcullis',
        iat: now,
        exp: now + 300,
        nonce: 'n',
      });
      const payload = await provider.validateIdToken(token, 'n');
      assert.equal(payload.tid, tid);
      const wrongTenant = await op.sign({
        iss: `${origin}/${tid}/v2.0`,
        tid: '11111111-1111-1111-1111-111111111111',
        sub: 's',
        aud: 'portcullis',
        iat: now,
        exp: now + 300,
        nonce: 'n',
      });
      await assert.rejects(provider.validateIdToken(wrongTenant, 'n'), /issued by/);
    } finally {
      await op.close();
    }
  });

  it('Google: hd goes in the request, and the hd claim must match; both issuer spellings accepted', async () => {
    const { fetch } = recordedFetch(
      discoveryUrl('https://accounts.google.com'),
      recorded('google'),
    );
    const metadata = await discover(fetch, 'https://accounts.google.com', (found) =>
      PROFILES.google.metadataIssuerMatches('https://accounts.google.com', found),
    );
    assert.equal(PROFILES.google.defaultIssuer(config({})), 'https://accounts.google.com');
    const google = config({ profile: 'google', hosted_domain: 'example.com' });
    assert.deepEqual(PROFILES.google.authorizationParameters(google), { hd: 'example.com' });
    assert.ok(PROFILES.google.tokenIssuerMatches(metadata.issuer, 'accounts.google.com', {}));
    assert.ok(
      PROFILES.google.tokenIssuerMatches(metadata.issuer, 'https://accounts.google.com', {}),
    );
    assert.ok(!PROFILES.google.tokenIssuerMatches(metadata.issuer, 'https://evil.example', {}));
    assert.deepEqual(
      PROFILES.google.checkClaims(google, { hd: 'example.com', email: 'a@example.com' }).hd,
      'example.com',
    );
    for (const claims of [{ email: 'a@gmail.com' }, { hd: 'other.example' }]) {
      assert.throws(
        () => PROFILES.google.checkClaims(google, claims),
        /not in the example\.com domain/,
      );
    }
  });

  it('GitHub: fixed endpoints, no ID token; the person is the numeric id from the user API', async () => {
    assert.equal(PROFILES.github.openid, false);
    const github = PROFILES.github.staticMetadata?.('https://github.com');
    assert.equal(github?.authorizationEndpoint, 'https://github.com/login/oauth/authorize');
    assert.equal(github?.tokenEndpoint, 'https://github.com/login/oauth/access_token');
    assert.equal(github?.userinfoEndpoint, 'https://api.github.com/user');
    // GitHub Enterprise Server: the API under /api/v3 on the same origin, served here.
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          login: 'octocat',
          id: 583231,
          name: 'The Octocat',
          email: null,
          type: 'User',
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const claims = await PROFILES.github.fetchUser?.(
        createGuardedFetch({ allowLoopback: true }),
        origin,
        'gho_token',
      );
      assert.equal(claims?.sub, '583231');
      assert.equal(claims?.iss, origin);
      assert.equal(claims?.preferred_username, 'octocat');
      assert.deepEqual(seen, ['/api/v3/user Bearer gho_token']);
    } finally {
      server.close();
    }
  });
});
