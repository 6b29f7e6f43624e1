/**
 * A provider's published half for unit tests: discovery document and JWKS served on 127.0.0.1,
 * with the signing key kept here so tests can mint ID tokens (good ones and forged ones).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, type JWTPayload, SignJWT } from 'jose';
import { IdentityProvider } from '../../src/authorization-server/federation/provider.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { createGuardedFetch } from '../../src/net/index.ts';

export interface ProviderFixture {
  readonly issuer: string;
  readonly key: KeyObject;
  /** Extra discovery fields, or an override of the served document. */
  metadata: Record<string, unknown>;
  /** Token endpoint answers, in order (status and JSON body); requests are recorded. */
  tokenAnswers: { status: number; body: Record<string, unknown> }[];
  readonly tokenRequests: {
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }[];
  sign(
    claims: JWTPayload,
    options?: { alg?: string; key?: KeyObject; kid?: string },
  ): Promise<string>;
  close(): Promise<void>;
}

export async function startProviderFixture(path = ''): Promise<ProviderFixture> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const fixture = {
    metadata: {} as Record<string, unknown>,
    tokenAnswers: [] as { status: number; body: Record<string, unknown> }[],
    tokenRequests: [] as { headers: Record<string, string | string[] | undefined>; body: string }[],
  };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === `${path}/.well-known/openid-configuration`) {
      json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        code_challenge_methods_supported: ['S256'],
        ...fixture.metadata,
      });
    } else if (url.pathname === `${path}/jwks`) {
      json(200, { keys: [jwk] });
    } else if (url.pathname === `${path}/token`) {
      fixture.tokenRequests.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      const answer = fixture.tokenAnswers.shift() ?? { status: 500, body: {} };
      json(answer.status, answer.body);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return Object.assign(fixture, {
    issuer,
    key: privateKey,
    sign: (claims: JWTPayload, options: { alg?: string; key?: KeyObject; kid?: string } = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'k1' })
        .sign(options.key ?? privateKey),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** An IdentityProvider for `issuer`, as the config would build it, loopback allowed. */
export function providerFor(
  issuer: string,
  extra: Record<string, unknown> = {},
  options: { now?: () => number; secret?: string } = {},
): IdentityProvider {
  const loaded = loadConfigText(
    JSON.stringify({
      remote_mcp: { enabled: false, allowed_scopes: ['files:read', 'files:write'] },
      upstreams: [{ name: 'x', path: '/mcp', url: 'http://127.0.0.1:9/mcp' }],
      authorization_server: {
        enabled: true,
        identity_providers: [
          {
            name: 'corp',
            issuer,
            client_id: 'portcullis',
            client_secret_env: 'CORP_SECRET',
            ...extra,
          },
        ],
      },
      development: { allow_loopback_urls: true },
    }),
    { env: { CORP_SECRET: options.secret ?? 'corp-secret' } },
  );
  const config = loaded.config.authorization_server.identity_providers[0];
  if (config === undefined) throw new Error('no provider');
  return new IdentityProvider(config, {
    fetch: createGuardedFetch({ allowLoopback: true }),
    clientSecret: options.secret ?? 'corp-secret',
    callbackUrl: 'http://127.0.0.1:8080/oauth/idp/callback',
    now: options.now ?? Date.now,
    clockSkewSeconds: 60,
  });
}
