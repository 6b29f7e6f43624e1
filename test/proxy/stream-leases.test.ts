/**
 * Streams do not outlive their credential: after a token is revoked, an open server-to-client
 * stream ends at the next lease sweep, and its session, no longer held open by the stream,
 * idles out and its stdio child stops. Under local trust a stream ends after the idle limit.
 * Sweeps are called directly: nothing here waits on a clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import {
  gatewayDocument,
  loadTestConfig,
  memoryLogger,
  stdioTestUpstream,
} from '../helpers/gateway.ts';
import { mcpHeaders, openSession } from '../helpers/http-client.ts';

const SECRET = 'stream-lease-client-secret-0123456789';
const IDLE_SECONDS = 60;

/** Opens the GET stream of a session; resolves when the gateway answered with its headers. */
async function openStream(url: string, headers: Record<string, string>) {
  const response = await fetch(url, {
    headers: { ...headers, accept: 'text/event-stream', 'mcp-protocol-version': '2025-06-18' },
  });
  assert.equal(response.status, 200);
  const reader = response.body?.getReader();
  if (reader === undefined) throw new Error('no body');
  let ended = false;
  const finished = (async () => {
    for (;;) {
      const { done } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
    }
    ended = true;
  })();
  return {
    finished,
    get ended() {
      return ended;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

describe('stream leases with the co-located authorization server', () => {
  let gateway: RunningPortcullis;
  let resource: string;

  before(async () => {
    const loaded = loadTestConfig(
      {
        ...gatewayDocument({
          auth: 'oauth',
          remoteMcp: { issuer: undefined, jwks_url: undefined },
          upstreams: [stdioTestUpstream({ session_idle_timeout_seconds: IDLE_SECONDS })],
        }),
        authorization_server: {
          enabled: true,
          issuer: 'http://127.0.0.1:8080',
          clients: [
            {
              client_id: 'machine',
              client_secret_env: 'LEASE_SECRET',
              redirect_uris: ['https://machine.example/cb'],
              grant_types: ['client_credentials'],
              scope: ['files:read'],
            },
          ],
        },
      },
      { LEASE_SECRET: SECRET },
    );
    gateway = await startPortcullis(loaded, {
      logger: memoryLogger().logger,
      audit: false,
      store: new MemoryStore(),
    });
    resource = gateway.gateway.routes.routes[0]?.resource ?? '';
  });

  after(async () => {
    await gateway?.close();
  });

  const basic = `Basic ${Buffer.from(`machine:${SECRET}`).toString('base64')}`;
  const issue = async () => {
    const response = await fetch(`${gateway.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'files:read',
        resource,
      }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    return ((await response.json()) as { access_token: string }).access_token;
  };

  it('a revoked token: its open stream ends at the next sweep; the session then idles out and its child stops', async () => {
    const token = await issue();
    const auth = { authorization: `Bearer ${token}` };
    const session = await openSession(`${gateway.url}/mcp`, auth);
    const stream = await openStream(`${gateway.url}/mcp`, { ...auth, 'mcp-session-id': session });
    assert.equal(gateway.gateway.streams.size, 1);
    assert.equal(await gateway.gateway.streams.sweep(), 0, 'positive control: still valid');
    assert.equal(stream.ended, false);
    assert.equal(gateway.gateway.childProcesses(), 1);

    const revoked = await fetch(`${gateway.url}/oauth/revoke`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    assert.equal(revoked.status, 200);
    assert.equal(await gateway.gateway.streams.sweep(), 1, 'the stream is ended');
    await stream.finished;
    assert.equal(gateway.gateway.streams.size, 0);

    // With no stream left, the session is idle like any other, and the sweep reaps it.
    gateway.gateway.sessions.sweep(Date.now() + IDLE_SECONDS * 1000 + 1000);
    assert.equal(gateway.gateway.sessions.size, 0);
    for (let attempt = 0; attempt < 200 && gateway.gateway.childProcesses() > 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(gateway.gateway.childProcesses(), 0, 'the stdio child stopped');
  });

  it('an expired token: the stream ends at the first sweep past its exp', async () => {
    const token = await issue();
    const auth = { authorization: `Bearer ${token}` };
    const session = await openSession(`${gateway.url}/mcp`, auth);
    const stream = await openStream(`${gateway.url}/mcp`, { ...auth, 'mcp-session-id': session });
    assert.equal(await gateway.gateway.streams.sweep(Date.now()), 0, 'positive control');
    assert.equal(await gateway.gateway.streams.sweep(Date.now() + 3600_000), 1);
    await stream.finished;
  });
});

describe('stream leases under local trust', () => {
  let gateway: RunningPortcullis;

  before(async () => {
    gateway = await startPortcullis(
      loadTestConfig(
        gatewayDocument({
          auth: 'none',
          upstreams: [stdioTestUpstream({ session_idle_timeout_seconds: IDLE_SECONDS })],
        }),
      ),
      { logger: memoryLogger().logger, audit: false },
    );
  });

  after(async () => {
    await gateway?.close();
  });

  it('a stream never idles its session forever: it ends after the idle limit, and the session goes', async () => {
    const session = await openSession(`${gateway.url}/mcp`, mcpHeaders());
    const stream = await openStream(`${gateway.url}/mcp`, { 'mcp-session-id': session });
    assert.equal(gateway.gateway.sessions.size, 1);
    assert.equal(await gateway.gateway.streams.sweep(Date.now() + 1000), 0, 'positive control');
    // Before: with the stream open the session never counted as idle.
    gateway.gateway.sessions.sweep(Date.now() + IDLE_SECONDS * 1000 + 1000);
    assert.equal(gateway.gateway.sessions.size, 1, 'held open by its stream');
    assert.equal(await gateway.gateway.streams.sweep(Date.now() + IDLE_SECONDS * 1000 + 1000), 1);
    await stream.finished;
    gateway.gateway.sessions.sweep(Date.now() + IDLE_SECONDS * 1000 + 1000);
    assert.equal(gateway.gateway.sessions.size, 0, 'then reaped');
  });
});
