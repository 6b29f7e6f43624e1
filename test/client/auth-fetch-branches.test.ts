import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAuthenticatedFetch, createStaticHeadersFetch } from '../../src/client/auth-fetch.ts';
import { OAuthSession } from '../../src/client/session.ts';
import { TokenStore } from '../../src/client/token-store.ts';
import { type ClientError, isClientError } from '../../src/errors/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  type ScriptedServer,
  scriptedDiscovery,
  startScriptedServer,
} from './helpers/scripted-server.ts';

/**
 * The fetch wrappers the MCP transports use: credentials go only to the server's origin, a 403
 * that is not `insufficient_scope` is the server's answer (not a reason to authorize), and a
 * refused token without a way to get another ends in a precise error.
 */

let rs: ScriptedServer;
let other: ScriptedServer;
before(async () => {
  rs = await startScriptedServer();
  other = await startScriptedServer();
});
after(async () => {
  await rs?.close();
  await other?.close();
});
beforeEach(() => {
  rs.reset();
  other.reset();
});

const mcpUrl = () => `${rs.origin}/mcp`;

async function withStoredToken(): Promise<OAuthSession> {
  const store = TokenStore.open(tempDir(), { env: {} });
  const issuer = rs.origin;
  await store.updateServer(mcpUrl(), () => ({
    serverUrl: mcpUrl(),
    issuer,
    discovery: { ...scriptedDiscovery(issuer), resource: mcpUrl() },
    tokens: {
      [issuer]: { access_token: 'stored-at', token_type: 'Bearer', requested_scope: '' },
    },
  }));
  return new OAuthSession({
    serverUrl: new URL(mcpUrl()),
    fetch,
    store,
    interactive: false,
    opener: async () => {
      throw new Error('no browser in these tests');
    },
  });
}

async function refusal(run: () => Promise<unknown>): Promise<ClientError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isClientError(error), `expected a ClientError, got ${String(error)}`);
  return error;
}

describe('createAuthenticatedFetch', () => {
  it('another origin: passed through without the token', async () => {
    other.answer('/x', { status: 200, body: 'ok' });
    const authFetch = createAuthenticatedFetch(await withStoredToken());
    const response = await authFetch(`${other.origin}/x`);
    assert.equal(await response.text(), 'ok');
    assert.equal(other.requests[0]?.headers.authorization, undefined);
    assert.equal(rs.requests.length, 0);
  });

  const answers: { name: string; headers?: Record<string, string> }[] = [
    { name: 'a 403 without a challenge (a policy refusal)' },
    {
      name: 'a 403 whose challenge is not insufficient_scope',
      headers: { 'www-authenticate': 'Bearer error="invalid_request"' },
    },
  ];
  for (const c of answers) {
    it(`${c.name}: returned to the caller, no authorization started`, async () => {
      rs.answer('/mcp', { status: 403, body: 'no', ...(c.headers ? { headers: c.headers } : {}) });
      const authFetch = createAuthenticatedFetch(await withStoredToken());
      const response = await authFetch(mcpUrl(), { method: 'post', body: '{}' });
      assert.equal(response.status, 403);
      assert.equal(rs.requests.length, 1);
      assert.equal(rs.requests[0]?.headers.authorization, 'Bearer stored-at');
    });
  }

  it('a 401 for the stored token with no refresh token and no interaction: ClientInteractionRequired', async () => {
    rs.answer('/mcp', {
      status: 401,
      body: '',
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    });
    const authFetch = createAuthenticatedFetch(await withStoredToken());
    const error = await refusal(() => authFetch(mcpUrl()));
    assert.equal(error.code, 'ClientInteractionRequired');
    assert.equal(rs.requests.length, 1);
  });

  it('positive control: a Request object keeps its method and gets the stored token', async () => {
    rs.answer('/mcp', { status: 200, body: { ok: true } });
    const authFetch = createAuthenticatedFetch(await withStoredToken());
    const response = await authFetch(new Request(mcpUrl(), { method: 'DELETE' }));
    assert.equal(response.status, 200);
    assert.equal(rs.requests[0]?.method, 'DELETE');
    assert.equal(rs.requests[0]?.headers.authorization, 'Bearer stored-at');
  });
});

describe('createStaticHeadersFetch (--header)', () => {
  const refusals: { name: string; status: number; headers?: Record<string, string> }[] = [
    { name: '401', status: 401 },
    {
      name: '403 with a challenge',
      status: 403,
      headers: { 'www-authenticate': 'Bearer error="insufficient_scope"' },
    },
  ];
  for (const c of refusals) {
    it(`${c.name}: ClientServerRefused naming the status`, async () => {
      rs.answer('/mcp', {
        status: c.status,
        body: '',
        ...(c.headers ? { headers: c.headers } : {}),
      });
      const staticFetch = createStaticHeadersFetch(new URL(mcpUrl()), { 'x-api-key': 'k' });
      const error = await refusal(() => staticFetch(mcpUrl()));
      assert.equal(error.code, 'ClientServerRefused');
      assert.equal(error.message, `${mcpUrl()} answered ${c.status} to the static headers`);
    });
  }

  it('another origin: the headers are not sent there', async () => {
    other.answer('/x', { status: 200, body: 'ok' });
    const staticFetch = createStaticHeadersFetch(new URL(mcpUrl()), { 'x-api-key': 'k' });
    assert.equal((await staticFetch(`${other.origin}/x`)).status, 200);
    assert.equal(other.requests[0]?.headers['x-api-key'], undefined);
  });

  it('positive control: a 403 without a challenge is returned; the headers were sent', async () => {
    rs.answer('/mcp', { status: 403, body: 'policy' });
    const staticFetch = createStaticHeadersFetch(new URL(mcpUrl()), { 'x-api-key': 'k' });
    const response = await staticFetch(new Request(mcpUrl()));
    assert.equal(response.status, 403);
    assert.equal(rs.requests[0]?.headers['x-api-key'], 'k');
  });
});
