/**
 * A per-subject share of an upstream's session slots: one subject cannot take every slot with
 * sessions it keeps open; at its share its own inactive sessions make room first, and only
 * when all of them are active is a new one refused. Another subject still gets in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  gatewayDocument,
  startTestGateway,
  stdioTestUpstream,
  type TestGateway,
} from '../helpers/gateway.ts';
import { INITIALIZE, mcpHeaders, openSession, request, toolCall } from '../helpers/http-client.ts';
import { TestDoubleVerifier, testDoubleAuth } from '../helpers/test-double-auth.ts';

describe('per-subject session share', () => {
  const verifier = new TestDoubleVerifier();
  let gateway: TestGateway;
  const streams: AbortController[] = [];
  // Held so that no stream is collected (and closed) while the test relies on it being open.
  const held: Response[] = [];

  before(async () => {
    gateway = await startTestGateway(
      gatewayDocument({
        auth: 'oauth',
        upstreams: [stdioTestUpstream({ max_sessions: 4, max_sessions_per_subject: 2 })],
      }),
      { auth: testDoubleAuth(verifier) },
    );
  });

  after(async () => {
    for (const stream of streams) stream.abort();
    await gateway?.close();
  });

  const as = (subject: string) => ({
    authorization: `Bearer ${verifier.issue(subject, ['files:read'])}`,
  });

  /** An open GET stream keeps a session active, so it cannot be made room from. */
  async function holdOpen(session: string, auth: Record<string, string>): Promise<void> {
    const stream = new AbortController();
    streams.push(stream);
    const response = await fetch(gateway.url(), {
      headers: { ...auth, accept: 'text/event-stream', 'mcp-session-id': session },
      signal: stream.signal,
    });
    assert.equal(response.status, 200);
    held.push(response);
  }

  it('at its share, a subject whose sessions are all active is refused with 503; another subject gets in', async () => {
    const alice = as('alice');
    for (let index = 0; index < 2; index++) {
      await holdOpen(await openSession(gateway.url(), alice), alice);
    }
    const refused = await request(gateway.url(), { headers: mcpHeaders(alice), body: INITIALIZE });
    assert.equal(refused.status, 503);
    assert.equal(refused.json?.code, 'CapacityExceeded');
    assert.match(String(refused.headers['retry-after']), /^\d+$/);
    assert.equal(gateway.running.gateway.sessions.size, 2, 'nothing was evicted');
    const bob = as('bob');
    const bobSession = await openSession(gateway.url(), bob);
    assert.ok(bobSession, 'positive control: a slot is left for another subject');
  });

  it("positive control: at its share, the subject's own inactive session makes room", async () => {
    const carol = as('carol');
    const first = await openSession(gateway.url(), carol);
    await openSession(gateway.url(), carol);
    const third = await openSession(gateway.url(), carol);
    assert.ok(third);
    const gone = await request(gateway.url(), {
      headers: mcpHeaders({ ...carol, 'mcp-session-id': first }),
      body: toolCall('pid'),
    });
    assert.equal(gone.status, 404, 'the least recently used one made room');
  });
});
