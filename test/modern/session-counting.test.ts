import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MemoryRateLimiter,
  type RateLimitDecision,
  type RateLimiter,
} from '../../src/proxy/rate-limit.ts';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  TEST_SCOPES,
  type TestGateway,
} from '../helpers/gateway.ts';
import { mcpHeaders, openSession, request, toolCall } from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

/**
 * Sessions and rate limits across the eras, through the real gateway: a 2025 request naming a
 * session the gateway does not hold is 404 before any counter is asked; a 2026-07-28 POST
 * carries no session, so an Mcp-Session-Id on it (unknown, or even the subject's live 2025
 * session) is neither answered 404 nor counted, while its subject is; a 2025 request on its
 * live session counts the subject and the session (positive control).
 */

/** Counts in memory and remembers every key it was asked about. */
class RecordingLimiter implements RateLimiter {
  readonly keys: string[] = [];
  readonly #inner = new MemoryRateLimiter({ maxRequests: 1000, windowSeconds: 60 });
  async consume(key: string): Promise<RateLimitDecision> {
    this.keys.push(key);
    return this.#inner.consume(key);
  }
  async close(): Promise<void> {
    await this.#inner.close();
  }
}

const MODERN_HEADERS = {
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};

function modernCall(id: number): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: {
      name: 'echo',
      arguments: { text: 'x', message: 'x' },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': {},
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      },
    },
  });
}

describe('sessions and rate limits across the protocol eras', () => {
  const verifier = new TestDoubleVerifier();
  const alice = verifier.issue('alice', TEST_SCOPES);
  const limiter = new RecordingLimiter();
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  let url = '';
  const auth = { authorization: `Bearer ${alice}` };
  const unknownSession = 'U'.repeat(32);

  before(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        allowedScopes: TEST_SCOPES,
        upstreams: [httpUpstream(upstream.url, { tool_scopes: { '*': 'files:read' } })],
      }),
      { auth: testDoubleAuth(verifier), rateLimiter: limiter },
    );
    url = gateway.url('/mcp');
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  /** The counters asked about during `exchange`, without the address (always counted). */
  async function countedDuring<T>(exchange: () => Promise<T>): Promise<[T, string[]]> {
    const from = limiter.keys.length;
    const result = await exchange();
    return [result, limiter.keys.slice(from)];
  }

  it('a 2025 request naming a session held nowhere: 404 before any counter, nothing upstream', async () => {
    const seen = upstream.requests.length;
    const [reply, keys] = await countedDuring(() =>
      request(url, {
        headers: mcpHeaders({ ...auth, 'mcp-session-id': unknownSession }),
        body: toolCall('echo', { text: 'x' }),
      }),
    );
    assert.equal(reply.status, 404);
    assert.match(reply.body, /McpSessionNotFound/);
    assert.deepEqual(keys, [], 'no counter asked');
    assert.equal(upstream.requests.length, seen, 'the upstream saw nothing');
  });

  it('a 2026-07-28 request with an unknown Mcp-Session-Id: served, its subject counted, no session', async () => {
    const [reply, keys] = await countedDuring(() =>
      request(url, {
        headers: mcpHeaders({ ...auth, ...MODERN_HEADERS, 'mcp-session-id': unknownSession }),
        body: modernCall(2),
      }),
    );
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.headers['mcp-session-id'], undefined);
    assert.deepEqual(
      keys.filter((key) => !key.startsWith('address:')),
      ['subject:alice'],
    );
  });

  it("a 2026-07-28 request carrying the subject's live 2025 session id: served, that session not counted", async () => {
    const session = await openSession(url, auth);
    const [reply, keys] = await countedDuring(() =>
      request(url, {
        headers: mcpHeaders({ ...auth, ...MODERN_HEADERS, 'mcp-session-id': session }),
        body: modernCall(3),
      }),
    );
    assert.equal(reply.status, 200, reply.body);
    assert.ok(!keys.includes(`session:${session}`), keys.join(', '));
    assert.ok(keys.includes('subject:alice'));

    // Positive control: a 2025 request on that session counts the subject and the session.
    const [legacy, legacyKeys] = await countedDuring(() =>
      request(url, {
        headers: mcpHeaders({ ...auth, 'mcp-session-id': session }),
        body: toolCall('echo', { text: 'y', message: 'y' }, 4),
      }),
    );
    assert.equal(legacy.status, 200, legacy.body);
    assert.deepEqual(legacyKeys.filter((key) => !key.startsWith('address:')).sort(), [
      `session:${session}`,
      'subject:alice',
    ]);
  });
});
