import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Provider, { errors } from 'oidc-provider';
import { loadConfigText } from '../../src/config/index.ts';
import { createVerifierFromConfig, requireScopes } from '../../src/resource-server/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { rejectsWith } from '../helpers/verifier-fixture.ts';

/*
 * Against a real external issuer: node-oidc-provider (a certified OpenID provider) on
 * 127.0.0.1, configured with resource indicators (RFC 8707) to issue JWT access tokens for the
 * gateway's MCP resource and opaque ones for a second resource. Tokens are obtained with the
 * client_credentials grant and verified through the remote JWKS (discovered from metadata_url)
 * and through the introspection endpoint.
 */

const GATEWAY = 'http://127.0.0.1:8080';
const JWT_RESOURCE = `${GATEWAY}/mcp`;
const OPAQUE_RESOURCE = `${GATEWAY}/notes`;
const CLIENT = { id: 'mcp-client', secret: 'mcp-client-secret-0123456789' };
const GATEWAY_CLIENT = { id: 'portcullis-gateway', secret: 'gateway-introspection-secret-0123' };

let server: Server;
let issuer: string;

function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    format: 'jwk',
  });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    format: 'jwk',
  });
  return [
    { ...rsa, kid: 'op-rs256', alg: 'RS256', use: 'sig' },
    { ...ec, kid: 'op-es256', alg: 'ES256', use: 'sig' },
  ];
}

before(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: signingKeys() },
    clients: [
      {
        client_id: CLIENT.id,
        client_secret: CLIENT.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'files:read files:write notes:read',
      },
      {
        client_id: GATEWAY_CLIENT.id,
        client_secret: GATEWAY_CLIENT.secret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    scopes: ['files:read', 'files:write', 'notes:read'],
    ttl: { ClientCredentials: 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Only the gateway's own client may introspect.
      introspection: {
        enabled: true,
        allowedPolicy: (ctx: { oidc: { client?: { clientId: string } } }) =>
          ctx.oidc.client?.clientId === GATEWAY_CLIENT.id,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => JWT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource === JWT_RESOURCE) {
            return {
              scope: 'files:read files:write',
              audience: JWT_RESOURCE,
              accessTokenTTL: 300,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'ES256' } },
            };
          }
          if (resource === OPAQUE_RESOURCE) {
            return {
              scope: 'notes:read',
              audience: OPAQUE_RESOURCE,
              accessTokenTTL: 300,
              accessTokenFormat: 'opaque',
            };
          }
          throw new errors.InvalidTarget();
        },
      },
    },
  });
  server.on('request', provider.callback());
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function clientCredentials(resource: string, scope: string): Promise<string> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }),
  });
  const body = (await response.json()) as {
    access_token?: string;
    error?: string;
    error_description?: string;
  };
  assert.equal(response.status, 200, `${body.error}: ${body.error_description}`);
  assert.ok(body.access_token);
  return body.access_token;
}

function gatewayConfig(keys: 'jwks_url' | 'metadata_url') {
  const keySource =
    keys === 'jwks_url'
      ? `  jwks_url: ${issuer}/jwks`
      : `  metadata_url: ${issuer}/.well-known/openid-configuration`;
  return loadConfigText(
    `
remote_mcp:
  enabled: true
  issuer: ${issuer}
${keySource}
  allowed_scopes: [files:read, files:write, notes:read]
  token_id_hmac_secret_env: HMAC
  introspection:
    url: ${issuer}/token/introspection
    client_id: ${GATEWAY_CLIENT.id}
    client_secret_env: INTROSPECTION_SECRET
safety: { remote_mcp_enabled: true }
development: { allow_loopback_urls: true }
upstreams:
  - { name: files, path: /mcp, command: node, tool_scopes: { read: files:read, write: files:write } }
  - { name: notes, path: /notes, command: node, tool_scopes: { read: notes:read } }
`,
    { env: { HMAC: HMAC_SECRET, INTROSPECTION_SECRET: GATEWAY_CLIENT.secret } },
  );
}

describe('oidc-provider as the external issuer', () => {
  for (const keys of ['metadata_url', 'jwks_url'] as const) {
    test(`a JWT access token for the MCP resource verifies through the remote JWKS (${keys})`, async () => {
      const accessToken = await clientCredentials(JWT_RESOURCE, 'files:read');
      const [header] = accessToken.split('.');
      assert.equal(JSON.parse(Buffer.from(header ?? '', 'base64url').toString()).typ, 'at+jwt');
      const verifier = createVerifierFromConfig(gatewayConfig(keys));
      await verifier.warm();
      const verified = await verifier.verify(accessToken);
      assert.equal(verified.subject, CLIENT.id);
      assert.equal(verified.clientId, CLIENT.id);
      assert.equal(verified.audience, JWT_RESOURCE);
      assert.deepEqual(verified.scopes, ['files:read']);
      assert.equal(verified.claims.iss, issuer);
      requireScopes(verified, 'files:read');
      await rejectsWith(
        Promise.resolve().then(() => requireScopes(verified, 'files:write')),
        'AuthMissingScope',
      );
    });
  }

  test('an opaque access token verifies through the introspection endpoint', async () => {
    const accessToken = await clientCredentials(OPAQUE_RESOURCE, 'notes:read');
    assert.equal(accessToken.split('.').length, 1);
    const verifier = createVerifierFromConfig(gatewayConfig('metadata_url'));
    const verified = await verifier.verify(accessToken);
    assert.equal(verified.subject, CLIENT.id);
    assert.equal(verified.audience, OPAQUE_RESOURCE);
    assert.deepEqual(verified.scopes, ['notes:read']);
    assert.match(verified.tokenIdHash, /^[0-9a-f]{64}$/);
  });

  test('negative controls from the same issuer', async () => {
    const verifier = createVerifierFromConfig(gatewayConfig('metadata_url'));
    const jwt = await clientCredentials(JWT_RESOURCE, 'files:read');
    const [h, p, s] = jwt.split('.');
    const claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'files:read files:write' })).toString('base64url')}.${s}`;
    await rejectsWith(verifier.verify(tampered), 'AuthTokenInvalid');
    await rejectsWith(verifier.verify('not-a-token-the-issuer-knows'), 'AuthTokenRevoked');
    // A gateway expecting another issuer refuses the provider's tokens.
    const otherIssuer = loadConfigText(
      `remote_mcp: { enabled: true, issuer: "${issuer}/other", jwks_url: "${issuer}/jwks", allowed_scopes: [files:read], token_id_hmac_secret_env: HMAC }
safety: { remote_mcp_enabled: true }
development: { allow_loopback_urls: true }
upstreams: [{ name: files, path: /mcp, command: node }]`,
      { env: { HMAC: HMAC_SECRET } },
    );
    await rejectsWith(createVerifierFromConfig(otherIssuer).verify(jwt), 'AuthInvalidIssuer');
  });
});
