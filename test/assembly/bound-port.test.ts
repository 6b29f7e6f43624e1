/**
 * `--bind 127.0.0.1:0`: the system picks the port, and every URL derived from the bind address
 * (public URL, resource URIs, audiences, the co-located issuer and its endpoints) names the port
 * it picked, so a client can follow them and a token the co-located server issues is accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { type LoadedConfig, withBoundPort } from '../../src/config/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import {
  gatewayDocument,
  loadTestConfig,
  memoryLogger,
  stdioTestUpstream,
} from '../helpers/gateway.ts';

const SECRET = 'bound-port-client-secret-0123456789';

function document(remoteMcp: Record<string, unknown> = {}): Record<string, unknown> {
  const base = gatewayDocument({ auth: 'oauth', upstreams: [stdioTestUpstream()] });
  const {
    issuer: _issuer,
    jwks_url: _jwks,
    ...remote
  } = base.remote_mcp as Record<string, unknown>;
  return {
    ...base,
    remote_mcp: { ...remote, ...remoteMcp },
    authorization_server: {
      enabled: true,
      clients: [
        {
          client_id: 'machine',
          client_secret_env: 'MACHINE_SECRET',
          redirect_uris: ['https://machine.example/cb'],
          grant_types: ['client_credentials'],
        },
      ],
    },
  };
}

const load = (remoteMcp: Record<string, unknown> = {}): LoadedConfig =>
  loadTestConfig(document(remoteMcp), { MACHINE_SECRET: SECRET });

describe('withBoundPort', () => {
  it('port 0 from a loopback bind: every derived URL takes the bound port', () => {
    const loaded = load();
    assert.equal(loaded.derived.publicUrl, 'http://127.0.0.1:0');
    const bound = withBoundPort(loaded, 41234);
    const origin = 'http://127.0.0.1:41234';
    assert.equal(bound.config.remote_mcp.bind_address, '127.0.0.1:41234');
    assert.deepEqual(bound.derived.bind, { host: '127.0.0.1', port: 41234, loopback: true });
    assert.equal(bound.derived.publicUrl, origin);
    assert.equal(bound.derived.issuer, origin);
    assert.equal(bound.derived.authorizationServerIssuer, origin);
    assert.deepEqual(bound.derived.audiences, [`${origin}/mcp`]);
    assert.equal(bound.derived.upstreams[0]?.resource, `${origin}/mcp`);
    assert.deepEqual(bound.derived.upstreams[0]?.metadataUrls, [
      `${origin}/.well-known/oauth-protected-resource/mcp`,
      `${origin}/.well-known/oauth-protected-resource`,
    ]);
    assert.ok(Object.isFrozen(bound.derived) && Object.isFrozen(bound.config));
    // The loaded config itself is left as it was.
    assert.equal(loaded.derived.publicUrl, 'http://127.0.0.1:0');
  });

  it('an IPv6 loopback bind keeps its brackets', () => {
    const bound = withBoundPort(load({ bind_address: '[::1]:0' }), 41234);
    assert.equal(bound.config.remote_mcp.bind_address, '[::1]:41234');
    assert.equal(bound.derived.publicUrl, 'http://[::1]:41234');
  });

  it('a public_url is kept: only the bind address learns the port', () => {
    const bound = withBoundPort(
      load({ public_url: 'https://mcp.example.com', bind_address: '127.0.0.1:0' }),
      41234,
    );
    assert.equal(bound.derived.publicUrl, 'https://mcp.example.com');
    assert.equal(bound.derived.issuer, 'https://mcp.example.com');
    assert.equal(bound.derived.bind.port, 41234);
    assert.deepEqual(bound.derived.audiences, ['https://mcp.example.com/mcp']);
  });

  it('audiences set in the config are kept as they are', () => {
    const bound = withBoundPort(load({ audiences: ['https://api.example.com'] }), 41234);
    assert.deepEqual(bound.derived.audiences, ['https://api.example.com']);
  });

  it('a bind address that names its port, or no port known: unchanged', () => {
    const named = load({ bind_address: '127.0.0.1:8080' });
    assert.equal(withBoundPort(named, 8080), named);
    const ephemeral = load();
    assert.equal(withBoundPort(ephemeral, 0), ephemeral);
  });
});

describe('startPortcullis on 127.0.0.1:0 with the co-located authorization server', () => {
  let running: RunningPortcullis;
  before(async () => {
    running = await startPortcullis(load(), {
      logger: memoryLogger().logger,
      audit: false,
      store: new MemoryStore(),
    });
  });
  after(async () => {
    await running?.close();
  });

  it('serves on a real port', () => {
    assert.notEqual(running.port, 0);
    assert.equal(running.url, `http://127.0.0.1:${running.port}`);
  });

  it('the authorization server metadata names the live origin', async () => {
    const response = await fetch(`${running.url}/.well-known/oauth-authorization-server`);
    assert.equal(response.status, 200);
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.equal(metadata.issuer, running.url);
    assert.equal(metadata.token_endpoint, `${running.url}/oauth/token`);
    assert.equal(metadata.jwks_uri, `${running.url}/oauth/jwks`);
  });

  it('the protected resource metadata and the challenge name the live origin', async () => {
    const response = await fetch(`${running.url}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(response.status, 200);
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.equal(metadata.resource, `${running.url}/mcp`);
    assert.deepEqual(metadata.authorization_servers, [running.url]);
    const denied = await fetch(`${running.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    assert.equal(denied.status, 401);
    assert.match(
      denied.headers.get('www-authenticate') ?? '',
      new RegExp(`resource_metadata="${running.url}/\\.well-known/oauth-protected-resource/mcp"`),
    );
  });

  it('a token issued there for the live resource is accepted by the gateway', async () => {
    const issued = await fetch(`${running.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`machine:${SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: `${running.url}/mcp`,
        scope: 'files:read',
      }),
    });
    assert.equal(issued.status, 200, await issued.clone().text());
    const { access_token: token } = (await issued.json()) as { access_token: string };
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      iss: string;
      aud: string | string[];
    };
    assert.equal(claims.iss, running.url);
    assert.deepEqual([claims.aud].flat(), [`${running.url}/mcp`]);
    const initialize = await fetch(`${running.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'bound-port', version: '1' },
        },
      }),
    });
    assert.equal(initialize.status, 200, await initialize.clone().text());
    await initialize.body?.cancel();
  });
});
