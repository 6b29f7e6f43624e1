/**
 * Property-based fuzzing of every parser that takes attacker input, each asserting no crash,
 * no hang (the suite has a time limit; inputs include deep nesting and long runs), and either
 * a result that satisfies the parser's own contract or a clean, typed refusal (a RequestError
 * below 500, a ConfigError for configuration).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { readForm } from '../../src/authorization-server/checks/parameters.ts';
import {
  matchRedirectUri,
  redirectUriProblem,
} from '../../src/authorization-server/checks/redirect-uri.ts';
import { bearerChallenge, parseChallenges } from '../../src/client/www-authenticate.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { isLoopbackHost } from '../../src/lib/host.ts';
import { parseClientMessage } from '../../src/mcp/json-rpc.ts';
import { extractBearerToken } from '../../src/resource-server/bearer.ts';
import { baseDocument } from '../authorization-server/harness.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import {
  assertCleanRefusal,
  assertConfigRefusal,
  fuzzOptions,
  nastyString,
} from './arbitraries.ts';

const encoder = new TextEncoder();

/** A JSON-RPC message, valid or nearly so. */
const jsonRpcLike = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.jsonValue({ maxDepth: 1 })),
    id: fc.oneof(
      fc.integer(),
      fc.string({ maxLength: 10 }),
      fc.constant(null),
      fc.double(),
      fc.constant(2 ** 53 + 1),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    method: fc.oneof(
      fc.constantFrom('tools/call', 'tools/list', 'initialize', 'notifications/initialized', ''),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    params: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    result: fc.jsonValue({ maxDepth: 2 }),
    error: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

/** A body: raw bytes, any JSON, messages, batches, duplicate keys, deep nesting. */
const jsonRpcBody: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  nastyString.map((text) => encoder.encode(text)),
  fc.jsonValue({ maxDepth: 6 }).map((value) => encoder.encode(JSON.stringify(value))),
  jsonRpcLike.map((message) => encoder.encode(JSON.stringify(message))),
  fc.array(jsonRpcLike, { maxLength: 5 }).map((batch) => encoder.encode(JSON.stringify(batch))),
  jsonRpcLike.map((message) => {
    const text = JSON.stringify(message);
    // The same member twice: a second parser upstream would read the other one.
    return encoder.encode(text.replace(/^\{/, '{"method":"tools/list",'));
  }),
  fc
    .integer({ min: 1, max: 20_000 })
    .map((depth) =>
      encoder.encode(
        `{"jsonrpc":"2.0","id":1,"method":"x","params":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
      ),
    ),
  fc.integer({ min: 1, max: 20_000 }).map((depth) => encoder.encode('['.repeat(depth))),
);

describe('fuzz: JSON-RPC bodies and batches', () => {
  it('parseClientMessage: a message object with jsonrpc 2.0, or a 4xx RequestError', () => {
    fc.assert(
      fc.property(jsonRpcBody, (body) => {
        try {
          const parsed = parseClientMessage(body);
          assert.equal(parsed.raw.jsonrpc, '2.0');
          assert.ok(!Array.isArray(parsed.raw), 'never a batch');
          assert.ok(['request', 'notification', 'response'].includes(parsed.message.kind));
          if (parsed.message.kind !== 'notification' && parsed.message.id !== null) {
            const { id } = parsed.message;
            assert.ok(typeof id === 'string' || Number.isSafeInteger(id));
          }
        } catch (error) {
          assertCleanRefusal(error, 'parseClientMessage');
        }
      }),
      fuzzOptions(),
    );
  });
});

/** WWW-Authenticate values: grammar-shaped (RFC 9110 §11.6.1) and anything at all. */
const authParam = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('realm', 'scope', 'error', 'resource_metadata', 'error_description'),
      fc.string({ maxLength: 8 }),
    ),
    fc.oneof(
      fc.string({ maxLength: 30 }).map((value) => `"${value}"`),
      fc.string({ maxLength: 30 }).map((value) => `"${value.replace(/["\\]/g, '\\$&')}"`),
      fc.string({ maxLength: 30 }),
    ),
  )
  .map(([name, value]) => `${name}=${value}`);
const challenge = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('Bearer', 'bearer', 'Basic', 'DPoP', 'Negotiate'),
      fc.string({ maxLength: 8 }),
    ),
    fc.array(authParam, { maxLength: 5 }),
    fc.constantFrom(', ', ',', ' , ', ',,'),
  )
  .map(([scheme, params, sep]) => `${scheme} ${params.join(sep)}`);
const wwwAuthenticate = fc.oneof(
  nastyString,
  challenge,
  fc.array(challenge, { maxLength: 4 }).map((list) => list.join(', ')),
);

describe('fuzz: WWW-Authenticate', () => {
  it('parseChallenges and bearerChallenge never throw and return well-typed values', () => {
    fc.assert(
      fc.property(wwwAuthenticate, (header) => {
        const challenges = parseChallenges(header);
        assert.ok(Array.isArray(challenges));
        const bearer = bearerChallenge(header);
        if (bearer !== undefined) {
          for (const value of Object.values(bearer)) {
            assert.ok(value === undefined || typeof value === 'string' || Array.isArray(value));
          }
        }
      }),
      fuzzOptions(),
    );
  });
});

describe('fuzz: Authorization header', () => {
  const header = fc.oneof(
    nastyString,
    fc.string({ maxLength: 60 }).map((token) => `Bearer ${token}`),
    fc
      .tuple(
        fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'DPoP', ''),
        fc.constantFrom(' ', '  ', '\t', ''),
        fc.string({ maxLength: 40 }),
      )
      .map(([scheme, space, token]) => `${scheme}${space}${token}`),
  );
  it('extractBearerToken: a b64token, or 401 AuthTokenMissing / 400 AuthInvalidRequest', () => {
    fc.assert(
      fc.property(
        fc.oneof(header, fc.array(header, { maxLength: 3 }), fc.constant(undefined)),
        (value) => {
          try {
            const token = extractBearerToken(value);
            assert.match(token, /^[A-Za-z0-9\-._~+/]+=*$/);
          } catch (error) {
            assertCleanRefusal(error, 'extractBearerToken');
            assert.ok(
              ['AuthTokenMissing', 'AuthInvalidRequest'].includes((error as { code: string }).code),
            );
          }
        },
      ),
      fuzzOptions(),
    );
  });
});

describe('fuzz: form bodies', () => {
  const field = fc.tuple(
    fc.oneof(
      fc.constantFrom('grant_type', 'code', 'client_id', 'token', 'scope', 'resource'),
      nastyString,
    ),
    nastyString,
  );
  const body = fc.oneof(
    nastyString,
    fc.uint8Array({ maxLength: 300 }),
    fc.array(field, { maxLength: 8 }).map((fields) => new URLSearchParams(fields).toString()),
    fc
      .array(field, { maxLength: 8 })
      .map((fields) => fields.map(([name, value]) => `${name}=${value}`).join('&')),
  );
  it('readForm: single-valued parameters, or a 4xx RequestError', async () => {
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom(
          'application/x-www-form-urlencoded',
          'application/x-www-form-urlencoded; charset=utf-8',
          'text/plain',
          'application/json',
          '',
        ),
        async (content, type) => {
          const request = new Request('http://127.0.0.1/oauth/token', {
            method: 'POST',
            headers: type === '' ? {} : { 'content-type': type },
            body: content,
          });
          try {
            const params = await readForm(request, 1024);
            for (const [name, value] of params) {
              assert.equal(typeof name, 'string');
              assert.equal(typeof value, 'string');
            }
          } catch (error) {
            assertCleanRefusal(error, 'readForm');
          }
        },
      ),
      fuzzOptions(),
    );
  });
});

describe('fuzz: redirect URIs', () => {
  const uri = fc.oneof(
    nastyString,
    fc.webUrl({ withFragments: true, withQueryParameters: true }),
    fc
      .tuple(
        fc.constantFrom('http', 'https', 'HTTP', 'javascript', 'data', 'custom.app', 'file'),
        fc.constantFrom('://', ':', ':///', '://user:pw@'),
        fc.constantFrom(
          '127.0.0.1',
          'localhost',
          '[::1]',
          'LOCALHOST',
          '127.1',
          'app.example',
          '0x7f.1',
          'app.example.',
          '2130706433',
        ),
        fc.constantFrom('', ':0', ':8080', ':443', ':99999'),
        fc.constantFrom(
          '/cb',
          '/oauth/cb',
          '/oauth',
          '/OAUTH/cb',
          '/%2e%2e/oauth',
          '/a/../oauth/x',
          '/cb?x=1',
          '/cb#f',
          '',
          '/*',
        ),
      )
      .map((parts) => parts.join('')),
  );
  it('redirectUriProblem: accepted values are normalized https, or http on loopback outside /oauth', () => {
    fc.assert(
      fc.property(uri, (value) => {
        const problem = redirectUriProblem(value);
        if (problem !== undefined) {
          assert.equal(typeof problem, 'string');
          return;
        }
        const url = new URL(value);
        assert.equal(url.href, value, 'accepted only in normalized form');
        assert.equal(url.hash, '');
        assert.equal(url.username + url.password, '');
        assert.ok(
          url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)),
        );
        if (isLoopbackHost(url.hostname)) {
          assert.ok(url.pathname !== '/oauth' && !url.pathname.startsWith('/oauth/'));
        }
      }),
      fuzzOptions(),
    );
  });

  it('matchRedirectUri: never throws, and matches only a registered URI or a loopback port variant', () => {
    fc.assert(
      fc.property(fc.array(uri, { maxLength: 4 }), uri, (registered, requested) => {
        const match = matchRedirectUri(registered, requested);
        if (match === undefined) return;
        assert.equal(match, requested);
        if (!registered.includes(requested)) {
          const url = new URL(requested);
          assert.ok(
            url.protocol === 'http:' && isLoopbackHost(url.hostname),
            'only loopback ports vary',
          );
        }
      }),
      fuzzOptions(),
    );
  });
});

describe('fuzz: YAML configuration', () => {
  const env = { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET: 'x'.repeat(32) };
  /** The valid base document with one value somewhere replaced by anything. */
  const mutated = fc
    .tuple(
      fc.constantFrom(
        'remote_mcp',
        'upstreams',
        'authorization_server',
        'safety',
        'audit',
        'store',
        'development',
        'extra',
      ),
      fc.jsonValue({ maxDepth: 3 }),
    )
    .map(([key, value]) => stringify({ ...baseDocument(8080), [key]: value }));
  const text = fc.oneof(
    nastyString,
    mutated,
    fc.jsonValue({ maxDepth: 4 }).map((value) => stringify(value)),
    fc.constantFrom(
      // Alias expansion ("billion laughs"), merge keys, tags, duplicate keys, documents.
      'a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d]\n',
      'remote_mcp: !!js/function "function(){}"\n',
      'a: 1\na: 2\n',
      '--- 1\n--- 2\n',
      '<<: {remote_mcp: {enabled: true}}\n',
      '? [a, b]\n: c\n',
    ),
  );
  it('loadConfigText: a loaded config, or a ConfigError', () => {
    fc.assert(
      fc.property(text, (yaml) => {
        try {
          const loaded = loadConfigText(yaml, { env });
          assert.equal(typeof loaded.config, 'object');
        } catch (error) {
          assertConfigRefusal(error, 'loadConfigText');
        }
      }),
      fuzzOptions(100),
    );
  });
});
