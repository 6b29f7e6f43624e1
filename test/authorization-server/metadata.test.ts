/**
 * Metadata (RFC 8414 / OIDC discovery), mount points, the JWKS, and routing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { discoverAuthorizationServerMetadata } from '@modelcontextprotocol/sdk/client/auth.js';
import { OAuthMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import { metadataPathsFor } from '../../src/authorization-server/index.ts';
import { createHarness, type Harness } from './harness.ts';

describe('metadata with a path-less issuer', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  it('both well-knowns serve the same document with every field MCP clients need', async () => {
    const oauth = await fetch(`${h.url}/.well-known/oauth-authorization-server`);
    const oidc = await fetch(`${h.url}/.well-known/openid-configuration`);
    assert.equal(oauth.status, 200);
    assert.equal(oauth.headers.get('content-type'), 'application/json');
    assert.equal(oauth.headers.get('access-control-allow-origin'), '*');
    const document = (await oauth.json()) as Record<string, unknown>;
    assert.deepEqual(await oidc.json(), document);
    assert.equal(document.issuer, h.url, 'identical to the issuer (no trailing slash)');
    assert.equal(document.authorization_endpoint, `${h.url}/oauth/authorize`);
    assert.equal(document.token_endpoint, `${h.url}/oauth/token`);
    assert.equal(document.registration_endpoint, `${h.url}/oauth/register`);
    assert.equal(document.revocation_endpoint, `${h.url}/oauth/revoke`);
    assert.equal(document.introspection_endpoint, `${h.url}/oauth/introspect`);
    assert.equal(document.jwks_uri, `${h.url}/oauth/jwks`);
    assert.deepEqual(document.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(document.response_types_supported, ['code']);
    assert.deepEqual(document.grant_types_supported, [
      'authorization_code',
      'refresh_token',
      'client_credentials',
      'urn:ietf:params:oauth:grant-type:device_code',
    ]);
    assert.equal(document.device_authorization_endpoint, `${h.url}/oauth/device_authorization`);
    assert.deepEqual(document.token_endpoint_auth_methods_supported, [
      'none',
      'client_secret_basic',
      'client_secret_post',
    ]);
    assert.equal(document.client_id_metadata_document_supported, true);
    assert.equal(document.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(document.scopes_supported, ['files:read', 'files:write', 'admin']);
    assert.ok(OAuthMetadataSchema.safeParse(document).success, 'the MCP SDK schema accepts it');
  });

  it('the MCP SDK discovers it', async () => {
    const found = await discoverAuthorizationServerMetadata(h.url);
    assert.equal(found?.issuer, h.url);
    assert.deepEqual(found?.code_challenge_methods_supported, ['S256']);
  });

  it('the JWKS holds public keys only, with kid, alg and use', async () => {
    const response = await fetch(`${h.url}/oauth/jwks`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('cache-control') ?? '', /max-age=300/);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    assert.equal(keys.length, 1);
    const [key] = keys;
    assert.equal(key?.kty, 'EC');
    assert.equal(key?.alg, 'ES256');
    assert.equal(key?.use, 'sig');
    assert.match(String(key?.kid), /^[A-Za-z0-9_-]{43}$/);
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
      assert.equal(key?.[member], undefined);
    assert.deepEqual(await h.as.publicKeySet(), { keys });
  });

  it('routing: other paths are not ours; unknown /oauth paths 404; wrong methods 405; HEAD works', async () => {
    assert.equal(await h.as.handle(new Request(`${h.url}/mcp`)), undefined);
    assert.equal(
      await h.as.handle(new Request(`${h.url}/.well-known/oauth-protected-resource`)),
      undefined,
    );
    const unknown = await fetch(`${h.url}/oauth/nothing`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: string }).error, 'route_not_found');
    const wrong = await fetch(`${h.url}/oauth/token`);
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    const head = await fetch(`${h.url}/.well-known/oauth-authorization-server`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('CORS preflight on the token endpoint', async () => {
    const response = await fetch(`${h.url}/oauth/token`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
  });
});

describe('metadata with an issuer that has a path (RFC 8414 §3.1)', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({
      edit: (document) => {
        const bind = String(document.remote_mcp.bind_address);
        document.authorization_server.issuer = `http://${bind}/tenant1`;
      },
    });
  });
  after(async () => {
    await h.close();
  });

  it('serves the inserted and appended forms, and not the root form', async () => {
    assert.deepEqual(metadataPathsFor(h.issuer), [
      '/.well-known/oauth-authorization-server/tenant1',
      '/.well-known/openid-configuration/tenant1',
      '/tenant1/.well-known/openid-configuration',
    ]);
    for (const path of metadataPathsFor(h.issuer)) {
      const response = await fetch(`${h.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.equal(((await response.json()) as { issuer: string }).issuer, `${h.url}/tenant1`);
    }
    const root = await fetch(`${h.url}/.well-known/oauth-authorization-server`);
    assert.equal(root.status, 404);
  });

  it('the MCP SDK discovers it at the inserted path', async () => {
    const found = await discoverAuthorizationServerMetadata(`${h.url}/tenant1`);
    assert.equal(found?.issuer, `${h.url}/tenant1`);
  });

  it('tokens carry the issuer with its path', async () => {
    const tokens = await h.obtainTokens();
    const [, payload] = tokens.access_token.split('.');
    assert.equal(
      JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()).iss,
      `${h.url}/tenant1`,
    );
    const landed = await h.authorize({ redirectUri: 'http://127.0.0.1:1/cb' });
    assert.equal(landed.searchParams.get('iss'), `${h.url}/tenant1`);
  });
});

describe('RS256 signing', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({
      edit: (document) => {
        document.authorization_server.signing_algorithm = 'RS256';
      },
    });
  });
  after(async () => {
    await h.close();
  });

  it('issues RS256 tokens with a 2048-bit RSA key when configured', async () => {
    const tokens = await h.obtainTokens();
    const header = JSON.parse(
      Buffer.from(tokens.access_token.split('.')[0] ?? '', 'base64url').toString(),
    );
    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'at+jwt');
    const { keys } = await h.as.publicKeySet();
    assert.equal(keys[0]?.kty, 'RSA');
    assert.equal(Buffer.from(String(keys[0]?.n), 'base64url').length, 256);
  });
});
