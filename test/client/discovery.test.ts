import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Discovery, discover } from '../../src/client/index.ts';
import { isClientError, isRequestError } from '../../src/errors/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';

type Routes = Record<string, { status: number; body?: unknown } | undefined>;

/** A loopback server answering fixed JSON per path, recording every path asked for. */
async function metadataServer(): Promise<{
  origin: string;
  hits: string[];
  routes: Routes;
  server: Server;
}> {
  const hits: string[] = [];
  const routes: Routes = {};
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.push(path);
    const route = routes[path];
    res.writeHead(route?.status ?? 404, { 'content-type': 'application/json' });
    res.end(
      route?.body === undefined
        ? '{}'
        : typeof route.body === 'string'
          ? route.body
          : JSON.stringify(route.body),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    routes,
    server,
  };
}

const policy = { allowLoopbackHttp: true };
const guarded = createGuardedFetch({ allowLoopback: true });

function asMetadata(issuer: string, extra: Record<string, unknown> = {}) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    ...extra,
  };
}

describe('discovery (MCP 2025-11-25: RFC 9728 then RFC 8414 / OIDC Discovery)', () => {
  let mcp: Awaited<ReturnType<typeof metadataServer>>;
  let as: Awaited<ReturnType<typeof metadataServer>>;
  before(async () => {
    mcp = await metadataServer();
    as = await metadataServer();
  });
  after(() => {
    mcp.server.close();
    as.server.close();
  });
  const reset = () => {
    for (const s of [mcp, as]) {
      s.hits.length = 0;
      for (const key of Object.keys(s.routes)) delete s.routes[key];
    }
  };
  const run = (challenge?: { resourceMetadata?: string; scope?: string }): Promise<Discovery> =>
    discover({
      serverUrl: new URL(`${mcp.origin}/api/mcp`),
      fetch: guarded,
      policy,
      ...(challenge ? { challenge } : {}),
    });

  it('path issuer: the three candidates in order, never the root oauth-authorization-server', async () => {
    reset();
    const issuer = `${as.origin}/tenant1`;
    mcp.routes['/.well-known/oauth-protected-resource/api/mcp'] = {
      status: 200,
      body: { resource: `${mcp.origin}/api/mcp`, authorization_servers: [issuer] },
    };
    as.routes['/tenant1/.well-known/openid-configuration'] = {
      status: 200,
      body: asMetadata(issuer, {
        jwks_uri: `${issuer}/jwks`,
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    };
    const found = await run();
    assert.equal(found.issuer, issuer);
    assert.equal(found.resource, `${mcp.origin}/api/mcp`);
    assert.deepEqual(as.hits, [
      '/.well-known/oauth-authorization-server/tenant1',
      '/.well-known/openid-configuration/tenant1',
      '/tenant1/.well-known/openid-configuration',
    ]);
    assert.deepEqual(mcp.hits, ['/.well-known/oauth-protected-resource/api/mcp']);
  });

  it('resource_metadata from the challenge is used alone; the well-known URLs are not probed', async () => {
    reset();
    mcp.routes['/custom/prm.json'] = {
      status: 200,
      body: {
        resource: `${mcp.origin}/api/mcp`,
        authorization_servers: [as.origin],
        scopes_supported: ['a'],
      },
    };
    as.routes['/.well-known/oauth-authorization-server'] = {
      status: 200,
      body: asMetadata(as.origin),
    };
    const found = await run({ resourceMetadata: `${mcp.origin}/custom/prm.json` });
    assert.deepEqual(mcp.hits, ['/custom/prm.json']);
    assert.equal(found.resourceMetadataUrl, `${mcp.origin}/custom/prm.json`);
    assert.deepEqual(found.resourceMetadata?.scopes_supported, ['a']);
  });

  it('falls back to the root document, whose resource may be the origin; the resource sent is canonical', async () => {
    reset();
    mcp.routes['/.well-known/oauth-protected-resource'] = {
      status: 200,
      body: { resource: `${mcp.origin}/`, authorization_servers: [as.origin] },
    };
    as.routes['/.well-known/oauth-authorization-server'] = {
      status: 200,
      body: asMetadata(as.origin),
    };
    const found = await run();
    assert.equal(found.resource, mcp.origin, 'no trailing slash');
    assert.deepEqual(mcp.hits, [
      '/.well-known/oauth-protected-resource/api/mcp',
      '/.well-known/oauth-protected-resource',
    ]);
  });

  it('no protected resource metadata: the 2025-03-26 rules (origin metadata, issuer on the same origin)', async () => {
    reset();
    mcp.routes['/.well-known/oauth-authorization-server'] = {
      status: 200,
      body: asMetadata(`${mcp.origin}/oauth`),
    };
    const found = await run();
    assert.equal(found.legacy, true);
    assert.equal(found.defaultEndpoints, false);
    assert.equal(found.issuer, `${mcp.origin}/oauth`);
    assert.equal(found.resource, `${mcp.origin}/api/mcp`, 'resource is sent even without metadata');
  });

  it('no metadata at all: the 2025-03-26 default endpoints', async () => {
    reset();
    const found = await run();
    assert.equal(found.defaultEndpoints, true);
    assert.equal(found.metadata.authorization_endpoint, `${mcp.origin}/authorize`);
  });

  const failures: {
    name: string;
    setup: () => void;
    code: string;
    challenge?: () => { resourceMetadata: string };
  }[] = [
    {
      name: 'a 5xx from the resource metadata',
      setup: () => {
        mcp.routes['/.well-known/oauth-protected-resource/api/mcp'] = { status: 503 };
      },
      code: 'ClientDiscoveryFailed',
    },
    {
      name: 'resource metadata that is not JSON',
      setup: () => {
        mcp.routes['/.well-known/oauth-protected-resource/api/mcp'] = {
          status: 200,
          body: '<html>',
        };
      },
      code: 'ClientDiscoveryFailed',
    },
    {
      name: 'resource metadata without authorization_servers',
      setup: () => {
        mcp.routes['/.well-known/oauth-protected-resource/api/mcp'] = {
          status: 200,
          body: { resource: `${mcp.origin}/api/mcp` },
        };
      },
      code: 'ClientDiscoveryFailed',
    },
    {
      name: 'resource metadata for a sibling path',
      setup: () => {
        mcp.routes['/.well-known/oauth-protected-resource/api/mcp'] = {
          status: 200,
          body: { resource: `${mcp.origin}/api/other`, authorization_servers: [as.origin] },
        };
      },
      code: 'ClientResourceMismatch',
    },
    {
      name: 'a challenge naming a document that is missing (no fallback)',
      setup: () => undefined,
      challenge: () => ({ resourceMetadata: `${mcp.origin}/gone.json` }),
      code: 'ClientDiscoveryFailed',
    },
    {
      name: 'an authorization server without metadata',
      setup: () => {
        mcp.routes['/.well-known/oauth-protected-resource/api/mcp'] = {
          status: 200,
          body: { resource: `${mcp.origin}/api/mcp`, authorization_servers: [as.origin] },
        };
      },
      code: 'ClientDiscoveryFailed',
    },
    {
      name: 'legacy metadata naming an issuer on another origin',
      setup: () => {
        mcp.routes['/.well-known/oauth-authorization-server'] = {
          status: 200,
          body: asMetadata(as.origin),
        };
      },
      code: 'ClientIssuerMismatch',
    },
  ];
  for (const c of failures) {
    it(`refuses ${c.name}: ${c.code}`, async () => {
      reset();
      c.setup();
      await assert.rejects(run(c.challenge?.()), (e) => isClientError(e) && e.code === c.code);
    });
  }

  it('every discovery request goes through the injected guard: loopback refused, nothing reached', async () => {
    reset();
    await assert.rejects(
      discover({
        serverUrl: new URL(`${mcp.origin}/api/mcp`),
        fetch: createGuardedFetch({ allowLoopback: false }),
        policy,
      }),
      (e) => isRequestError(e) && e.code === 'FetchBlocked',
    );
    assert.deepEqual(mcp.hits, []);
    assert.deepEqual(as.hits, []);
  });
});
