import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Discovery, obtainClient, TokenStore } from '../../src/client/index.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { startOAuthFixture } from '../helpers/oauth-fixture.ts';

/**
 * MCP 2026-07-28 basic/authorization: credentials are bound to the authorization server that
 * issued them; a registration is never presented to another issuer, and a server whose
 * protected resource metadata names a new authorization server gets a new registration there.
 */

interface RegistrationServer {
  readonly issuer: string;
  /** Bodies of the registration requests received. */
  readonly registrations: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A real RFC 7591 registration endpoint on 127.0.0.1 that records what it receives. */
async function startRegistrationServer(name: string): Promise<RegistrationServer> {
  const registrations: Record<string, unknown>[] = [];
  let count = 0;
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const metadata = JSON.parse(body || '{}') as Record<string, unknown>;
    registrations.push(metadata);
    count++;
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...metadata, client_id: `${name}-client-${count}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    registrations,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function discoveryFor(issuer: string): Discovery {
  return {
    resource: 'https://mcp.example.com/mcp',
    issuer,
    metadata: {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      registration_endpoint: `${issuer}/register`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    },
    defaultEndpoints: false,
    legacy: false,
  };
}

describe('credentials bound to their issuer (never reused across authorization servers)', () => {
  let first: RegistrationServer;
  let second: RegistrationServer;
  let store: TokenStore;
  const redirectUri = 'http://127.0.0.1:43210/callback';
  before(async () => {
    first = await startRegistrationServer('first');
    second = await startRegistrationServer('second');
    store = TokenStore.open(tempDir(), { env: {} });
  });
  after(async () => {
    await first?.close();
    await second?.close();
  });

  const options = (issuer: string) => ({
    discovery: discoveryFor(issuer),
    store,
    fetch,
    redirectUri,
    clientName: 'Portcullis',
  });

  it('registers at the first issuer, as a native application (application_type)', async () => {
    const client = await obtainClient(options(first.issuer));
    assert.equal(client.client_id, 'first-client-1');
    assert.equal(client.issuer, first.issuer);
    assert.equal(first.registrations.length, 1);
    assert.equal(first.registrations[0]?.application_type, 'native');
  });

  it('positive control: the same issuer again reuses the registration (nothing sent)', async () => {
    const client = await obtainClient(options(first.issuer));
    assert.equal(client.client_id, 'first-client-1');
    assert.equal(first.registrations.length, 1);
  });

  it('a new issuer (the metadata moved) gets its own registration; the old client id is not sent there', async () => {
    const client = await obtainClient(options(second.issuer));
    assert.equal(client.client_id, 'second-client-1');
    assert.equal(second.registrations.length, 1);
    assert.ok(!JSON.stringify(second.registrations).includes('first-client-1'));
    // Both registrations are kept, each under its own issuer.
    assert.equal((await store.readClient(first.issuer))?.client_id, 'first-client-1');
    assert.equal((await store.readClient(second.issuer))?.client_id, 'second-client-1');
  });
});

describe('--no-resource-parameter (RFC 8707 resource left out, for servers that reject it)', () => {
  it('without the switch, resource is sent and the strict server authorizes (positive control)', async () => {
    const fixture = await startOAuthFixture();
    try {
      const result = await runCli([
        'call',
        fixture.mcpUrl,
        'echo',
        '--args',
        '{"text":"x"}',
        '--open',
        'fetch',
        '--token-store',
        tempDir(),
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(fixture.counts.authorize, 1);
    } finally {
      await fixture.stop();
    }
  });

  it('with it, no resource is sent: a server that requires one refuses, nothing reaches the tool', async () => {
    const fixture = await startOAuthFixture();
    try {
      const result = await runCli([
        'call',
        fixture.mcpUrl,
        'echo',
        '--args',
        '{"text":"x"}',
        '--open',
        'fetch',
        '--token-store',
        tempDir(),
        '--no-resource-parameter',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /ClientAuthorization/);
      assert.equal(fixture.counts.mcp > 0, true, 'the first, unauthorized request');
      assert.doesNotMatch(result.stdout, /echo: x/);
    } finally {
      await fixture.stop();
    }
  });
});
