/**
 * Property-based fuzzing of discovery as the client sees it: the MCP server (protected resource
 * metadata) and the authorization server (its metadata) are both outside the client's trust,
 * so their documents are attacker input. Discovery gives a result whose issuer and resource
 * were checked, or a typed ClientError; never a crash. The network is replaced by a function
 * serving the generated documents at the well-known paths; everything after is the real code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { discover } from '../../src/client/discovery.ts';
import { ClientError } from '../../src/errors/index.ts';
import { fuzzOptions, nastyString } from './arbitraries.ts';

const SERVER = new URL('https://mcp.example/mcp');
const ISSUER = 'https://as.example';

const urlish = fc.oneof(
  fc.constantFrom(
    ISSUER,
    `${ISSUER}/`,
    'https://evil.example',
    'http://as.example',
    'javascript:alert(1)',
    '',
  ),
  fc.webUrl(),
  nastyString,
);
const prm = fc.record(
  {
    resource: fc.oneof(
      fc.constantFrom(
        'https://mcp.example/mcp',
        'https://mcp.example/',
        'https://other.example/mcp',
      ),
      urlish,
    ),
    authorization_servers: fc.oneof(
      fc.constant([ISSUER]),
      fc.array(urlish, { maxLength: 3 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    scopes_supported: fc.oneof(
      fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
  },
  { requiredKeys: [] },
);
const asMetadata = fc.record(
  {
    issuer: fc.oneof(fc.constant(ISSUER), urlish),
    authorization_endpoint: fc.oneof(fc.constant(`${ISSUER}/authorize`), urlish),
    token_endpoint: fc.oneof(fc.constant(`${ISSUER}/token`), urlish),
    registration_endpoint: urlish,
    code_challenge_methods_supported: fc.oneof(
      fc.constant(['S256']),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    response_types_supported: fc.oneof(fc.constant(['code']), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
);
const served = fc.record({
  prm: fc.oneof(
    prm.map((value) => JSON.stringify(value)),
    nastyString,
    fc.constant(''),
  ),
  prmStatus: fc.constantFrom(200, 200, 404, 500),
  as: fc.oneof(
    asMetadata.map((value) => JSON.stringify(value)),
    nastyString,
  ),
  asStatus: fc.constantFrom(200, 200, 404),
});

describe('fuzz: discovery documents', () => {
  it('discover: a checked result or a ClientError', async () => {
    await fc.assert(
      fc.asyncProperty(served, async (documents) => {
        const fetch = async (input: string | URL) => {
          const url = new URL(String(input));
          if (url.pathname.startsWith('/.well-known/oauth-protected-resource')) {
            return new Response(documents.prm, {
              status: documents.prmStatus,
              headers: { 'content-type': 'application/json' },
            });
          }
          if (
            url.origin === ISSUER &&
            (url.pathname.includes('oauth-authorization-server') ||
              url.pathname.includes('openid-configuration'))
          ) {
            return new Response(documents.as, {
              status: documents.asStatus,
              headers: { 'content-type': 'application/json' },
            });
          }
          return new Response('not found', { status: 404 });
        };
        try {
          const found = await discover({
            serverUrl: SERVER,
            fetch,
            policy: { allowLoopbackHttp: false },
          });
          assert.equal(typeof found.issuer, 'string');
          assert.equal(typeof found.resource, 'string');
          if (!found.defaultEndpoints) {
            assert.equal(
              found.metadata.issuer?.replace(/\/$/, ''),
              found.issuer.replace(/\/$/, ''),
            );
          }
        } catch (error) {
          assert.ok(error instanceof ClientError, `not a ClientError: ${String(error)}`);
        }
      }),
      fuzzOptions(),
    );
  });

  it('positive control: well-formed documents are discovered', async () => {
    const fetch = async (input: string | URL) => {
      const url = new URL(String(input));
      const json = (body: unknown) =>
        new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
      if (url.pathname.startsWith('/.well-known/oauth-protected-resource')) {
        return json({ resource: 'https://mcp.example/mcp', authorization_servers: [ISSUER] });
      }
      if (url.origin === ISSUER && url.pathname.includes('oauth-authorization-server')) {
        return json({
          issuer: ISSUER,
          authorization_endpoint: `${ISSUER}/authorize`,
          token_endpoint: `${ISSUER}/token`,
          code_challenge_methods_supported: ['S256'],
          response_types_supported: ['code'],
        });
      }
      return new Response('not found', { status: 404 });
    };
    const found = await discover({
      serverUrl: SERVER,
      fetch,
      policy: { allowLoopbackHttp: false },
    });
    assert.equal(found.issuer, ISSUER);
    assert.equal(found.resource, 'https://mcp.example/mcp');
  });
});
