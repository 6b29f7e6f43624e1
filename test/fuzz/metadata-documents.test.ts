/**
 * Property-based fuzzing of client ID metadata documents: the document at a client_id URL is
 * written by whoever controls that URL, so every answer (status, content type, cache headers,
 * body) is attacker input. The resolver must give a client that satisfies its own contract, or
 * a 4xx RequestError (or 503 while its fetch slots are full), never anything else. The network
 * is replaced by a function that answers each fetch with the generated response; everything
 * from the answer on is the real code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MetadataDocumentResolver } from '../../src/authorization-server/index.ts';
import { RequestError } from '../../src/errors/index.ts';
import { fuzzOptions, nastyString } from './arbitraries.ts';

const CLIENT_ID = 'https://client.example/oauth/client.json';

const document = fc.record(
  {
    client_id: fc.oneof(
      fc.constant(CLIENT_ID),
      fc.constant(`${CLIENT_ID}/`),
      fc.constant('https://CLIENT.example/oauth/client.json'),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    client_name: fc.oneof(fc.string({ maxLength: 40 }), nastyString, fc.jsonValue({ maxDepth: 1 })),
    redirect_uris: fc.oneof(
      fc.constant(['http://127.0.0.1/cb']),
      fc.array(fc.oneof(fc.webUrl(), nastyString), { maxLength: 3 }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    token_endpoint_auth_method: fc.oneof(
      fc.constantFrom('none', 'client_secret_basic', 'private_key_jwt'),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    grant_types: fc.oneof(
      fc.constant(['authorization_code', 'refresh_token']),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    scope: fc.oneof(
      fc.constantFrom('files:read', 'files:read admin', ''),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    client_secret: fc.string({ maxLength: 10 }),
    jwks: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: [] },
);

const answer = fc.record({
  status: fc.constantFrom(200, 200, 200, 201, 301, 404, 500),
  type: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/html',
    'APPLICATION/JSON',
    '',
  ),
  cacheControl: fc.option(
    fc.oneof(
      fc.constantFrom(
        'no-store',
        'no-cache',
        'max-age=0',
        'max-age=999999999',
        'max-age=x',
        'public, max-age=600',
      ),
      nastyString,
    ),
    { nil: undefined },
  ),
  body: fc.oneof(
    document.map((value) => JSON.stringify(value)),
    document.map((value) =>
      JSON.stringify(value).replace(/^\{/, '{"client_id":"https://evil.example/x",'),
    ),
    nastyString,
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  ),
});

describe('fuzz: client ID metadata documents', () => {
  it('resolve: a client bound to its URL, or a clean refusal', async () => {
    await fc.assert(
      fc.asyncProperty(answer, async (reply) => {
        const headers: Record<string, string> = {};
        if (reply.type !== '') headers['content-type'] = reply.type;
        if (reply.cacheControl !== undefined && /^[\x20-\x7e]*$/.test(reply.cacheControl)) {
          headers['cache-control'] = reply.cacheControl;
        }
        const resolver = new MetadataDocumentResolver({
          fetch: async () =>
            new Response(reply.status === 301 ? null : reply.body, {
              status: reply.status,
              headers,
            }),
          now: () => 1_800_000_000_000,
          allowLoopback: false,
          allowedScopes: ['files:read'],
        });
        try {
          const client = await resolver.resolve(CLIENT_ID);
          assert.equal(client.clientId, CLIENT_ID);
          assert.equal(client.kind, 'metadata-document');
          assert.equal(
            client.secretHash,
            undefined,
            'a document never makes a confidential client',
          );
          assert.ok(client.redirectUris.length > 0);
          assert.ok(client.scopes.every((scope) => scope === 'files:read'));
          // A second resolve is the cached client or a new fetch, never an error.
          assert.equal((await resolver.resolve(CLIENT_ID)).clientId, CLIENT_ID);
        } catch (error) {
          assert.ok(error instanceof RequestError, String(error));
          assert.ok(error.status >= 400 && error.status < 500, `${error.code} ${error.status}`);
        }
      }),
      fuzzOptions(),
    );
  });
});

describe('client ID metadata documents: positive control', () => {
  it('a valid document, served as JSON with max-age, gives its client and is cached', async () => {
    let fetches = 0;
    const resolver = new MetadataDocumentResolver({
      fetch: async () => {
        fetches++;
        return new Response(
          JSON.stringify({
            client_id: CLIENT_ID,
            client_name: 'Example',
            redirect_uris: ['http://127.0.0.1/cb'],
            token_endpoint_auth_method: 'none',
            scope: 'files:read',
          }),
          { headers: { 'content-type': 'application/json', 'cache-control': 'max-age=600' } },
        );
      },
      now: () => 1_800_000_000_000,
      allowLoopback: false,
      allowedScopes: ['files:read'],
    });
    const client = await resolver.resolve(CLIENT_ID);
    assert.equal(client.name, 'Example');
    assert.deepEqual(client.scopes, ['files:read']);
    await resolver.resolve(CLIENT_ID);
    assert.equal(fetches, 1, 'served from the cache');
  });
});
