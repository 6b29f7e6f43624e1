import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { OAuthSession, type OAuthSessionOptions } from '../../src/client/session.ts';
import { type ServerRecord, TokenStore } from '../../src/client/token-store.ts';
import type { StoredTokens } from '../../src/client/types.ts';
import { type ClientError, isClientError } from '../../src/errors/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  form,
  type ScriptedServer,
  scriptedDiscovery,
  startScriptedServer,
} from './helpers/scripted-server.ts';

/**
 * The client session's refresh, logout and unattended authorization against a scripted
 * authorization server: what is sent, what is kept in the store, and the precise refusals.
 */

let as: ScriptedServer;
before(async () => {
  as = await startScriptedServer();
});
after(() => as?.close());
beforeEach(() => as.reset());

const mcpUrl = () => `${as.origin}/mcp`;
const HOUR = 3_600_000;

interface Made {
  readonly session: OAuthSession;
  readonly store: TokenStore;
  readonly notices: string[];
}

function make(extra: Partial<OAuthSessionOptions> = {}): Made {
  const store = TokenStore.open(tempDir(), { env: {} });
  const notices: string[] = [];
  const session = new OAuthSession({
    serverUrl: new URL(mcpUrl()),
    fetch,
    store,
    opener: async () => {
      throw new Error('no browser in these tests');
    },
    notice: (text) => notices.push(text),
    ...extra,
  });
  return { session, store, notices };
}

/** Seeds the store: a record for the scripted issuer, its tokens, and a dynamic client. */
async function seed(
  store: TokenStore,
  tokens: Partial<StoredTokens> | undefined,
  options: { discovery?: boolean; client?: boolean; metadata?: Record<string, unknown> } = {},
): Promise<void> {
  const issuer = as.origin;
  const record: ServerRecord = {
    serverUrl: mcpUrl(),
    issuer,
    ...(options.discovery === false
      ? {}
      : { discovery: { ...scriptedDiscovery(issuer, options.metadata), resource: mcpUrl() } }),
    tokens:
      tokens === undefined
        ? {}
        : {
            [issuer]: {
              access_token: 'old-at',
              token_type: 'Bearer',
              requested_scope: 'read',
              scope: 'read',
              ...tokens,
            },
          },
  };
  await store.updateServer(mcpUrl(), () => record);
  if (options.client !== false) {
    await store.writeClient({ issuer, client_id: 'stored-client', source: 'dynamic' });
  }
}

const stored = async (store: TokenStore) => (await store.readServer(mcpUrl()))?.tokens?.[as.origin];
const tokenRequests = () => as.requests.filter((r) => r.path === '/token');

async function refusal(run: () => Promise<unknown>): Promise<ClientError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isClientError(error), `expected a ClientError, got ${String(error)}`);
  return error;
}

describe('refresh: when nothing is sent', () => {
  const cases: {
    name: string;
    tokens: Partial<StoredTokens> | undefined;
    options?: { discovery?: boolean; client?: boolean };
    rejected?: string;
    result: string | undefined;
  }[] = [
    { name: 'no tokens stored', tokens: undefined, result: undefined },
    {
      name: 'due tokens but no stored discovery',
      tokens: { expires_at: Date.now() - 1, refresh_token: 'rt' },
      options: { discovery: false },
      result: undefined,
    },
    {
      name: 'due tokens with a refresh token but no client',
      tokens: { expires_at: Date.now() - 1, refresh_token: 'rt' },
      options: { client: false },
      result: undefined,
    },
    {
      name: 'expired tokens without a refresh token',
      tokens: { expires_at: Date.now() - 1 },
      result: undefined,
    },
    {
      name: 'a rejected token without a refresh token',
      tokens: {},
      rejected: 'old-at',
      result: undefined,
    },
    {
      name: 'due (inside the margin) but unexpired, without a refresh token',
      tokens: { expires_at: Date.now() + 30_000 },
      result: 'old-at',
    },
    {
      name: 'not due, another token was rejected (positive control)',
      tokens: { expires_at: Date.now() + HOUR, refresh_token: 'rt' },
      rejected: 'someone-else',
      result: 'old-at',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.result ?? 'no token'}, no token request`, async () => {
      const { session, store } = make();
      await seed(store, c.tokens, c.options);
      const result =
        c.rejected === undefined ? await session.accessToken() : await session.refresh(c.rejected);
      assert.equal(result, c.result);
      assert.equal(tokenRequests().length, 0);
    });
  }
});

describe('refresh: refusals of the authorization server', () => {
  it('invalid_grant: the tokens are dropped, a notice says a new authorization is needed', async () => {
    as.answer('/token', { status: 400, body: { error: 'invalid_grant' } });
    const { session, store, notices } = make();
    await seed(store, { expires_at: Date.now() - 1, refresh_token: 'dead' });
    assert.equal(await session.accessToken(), undefined);
    assert.equal(await stored(store), undefined);
    assert.deepEqual(notices, [
      'The stored refresh token was refused; a new authorization is needed.',
    ]);
    assert.equal(form(tokenRequests()[0]).refresh_token, 'dead');
  });

  it('a 500 while the token is still valid: the current token is used, tokens kept', async () => {
    as.answer('/token', { status: 500, body: 'down' });
    const { session, store } = make();
    await seed(store, { expires_at: Date.now() + 30_000, refresh_token: 'rt' });
    assert.equal(await session.accessToken(), 'old-at');
    assert.equal((await stored(store))?.refresh_token, 'rt');
  });

  it('a 500 once the token has expired: ClientTokenRequestFailed, tokens kept for later', async () => {
    as.answer('/token', { status: 500, body: { error: 'server_error' } });
    const { session, store } = make();
    await seed(store, { expires_at: Date.now() - 1, refresh_token: 'rt' });
    const error = await refusal(() => session.accessToken());
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.match(error.message, new RegExp(`^refresh at ${as.origin} failed: server_error`));
    assert.equal((await stored(store))?.refresh_token, 'rt');
  });

  it('a 500 for a token the server just rejected: ClientTokenRequestFailed', async () => {
    as.answer('/token', { status: 500, body: { error: 'server_error' } });
    const { session, store } = make();
    await seed(store, { expires_at: Date.now() + HOUR, refresh_token: 'rt' });
    const error = await refusal(() => session.refresh('old-at'));
    assert.equal(error.code, 'ClientTokenRequestFailed');
  });

  it('a token type other than Bearer: ClientTokenRequestFailed, old tokens kept', async () => {
    as.answer('/token', {
      status: 200,
      body: { access_token: 'mac-at', token_type: 'mac', refresh_token: 'rt2' },
    });
    const { session, store } = make();
    await seed(store, { expires_at: Date.now() - 1, refresh_token: 'rt' });
    const error = await refusal(() => session.accessToken());
    assert.equal(error.code, 'ClientTokenRequestFailed');
    assert.equal(
      error.message,
      'the token endpoint issued a mac token; only Bearer tokens are usable here',
    );
    assert.equal((await stored(store))?.access_token, 'old-at');
  });

  it('positive control: a refresh answer without refresh token or scope keeps the old ones', async () => {
    as.answer('/token', {
      status: 200,
      body: { access_token: 'new-at', token_type: 'bearer', expires_in: 600 },
    });
    const { session, store } = make({ resourceParameter: false });
    await seed(store, { expires_at: Date.now() - 1, refresh_token: 'rt' });
    assert.equal(await session.accessToken(), 'new-at');
    const now = await stored(store);
    assert.equal(now?.refresh_token, 'rt');
    assert.equal(now?.scope, 'read');
    assert.equal(now?.token_type, 'Bearer');
    assert.equal(now?.requested_scope, 'read');
    const sent = form(tokenRequests()[0]);
    assert.equal(sent.client_id, 'stored-client');
    assert.equal(sent.resource, undefined);
    assert.equal(await session.presentation(), undefined);
  });

  it('a pre-registered client refreshes with its own ID; a metadata-document one with its URL', async () => {
    as.answer('/token', { status: 200, body: { access_token: 'n', token_type: 'Bearer' } });
    const pre = make({ clientId: 'pre', clientSecret: 'shh' });
    await seed(pre.store, { expires_at: Date.now() - 1, refresh_token: 'rt' }, { client: false });
    assert.equal(await pre.session.accessToken(), 'n');
    const url = 'https://app.example/client.json';
    const cimd = make({ clientMetadataUrl: url });
    await seed(
      cimd.store,
      { expires_at: Date.now() - 1, refresh_token: 'rt' },
      { client: false, metadata: { client_id_metadata_document_supported: true } },
    );
    assert.equal(await cimd.session.accessToken(), 'n');
    const [first, second] = tokenRequests();
    assert.equal(
      Buffer.from(String(first?.headers.authorization).slice(6), 'base64').toString(),
      'pre:shh',
    );
    assert.equal(form(second).client_id, url);
  });
});

describe('logout (RFC 7009 revocation first)', () => {
  it('nothing stored: nothing revoked or removed', async () => {
    const { session } = make();
    assert.deepEqual(await session.logout(), { revoked: false, removed: false });
    assert.equal(as.requests.length, 0);
  });

  it('revocation refused: a notice, the tokens deleted anyway', async () => {
    as.answer('/revoke', { status: 503, body: 'busy' });
    const { session, store, notices } = make();
    await seed(
      store,
      { refresh_token: 'rt' },
      { metadata: { revocation_endpoint: `${as.origin}/revoke` } },
    );
    assert.deepEqual(await session.logout(), { revoked: false, removed: true });
    assert.deepEqual(notices, [
      `Revocation failed (revocation at ${as.origin} answered 503); deleting the stored tokens anyway.`,
    ]);
    assert.equal(await store.readServer(mcpUrl()), undefined);
    assert.equal((await store.readClient(as.origin))?.client_id, 'stored-client');
  });

  it('no client known: no revocation, tokens deleted', async () => {
    const { session, store } = make();
    await seed(
      store,
      {},
      { client: false, metadata: { revocation_endpoint: `${as.origin}/revoke` } },
    );
    assert.deepEqual(await session.logout(), { revoked: false, removed: true });
    assert.equal(as.requests.length, 0);
  });

  it('positive control: both tokens revoked, record and (asked) client forgotten', async () => {
    as.answer('/revoke', { status: 200 });
    const { session, store } = make();
    await seed(
      store,
      { refresh_token: 'rt' },
      { metadata: { revocation_endpoint: `${as.origin}/revoke` } },
    );
    assert.deepEqual(await session.logout({ forgetClient: true }), {
      revoked: true,
      removed: true,
    });
    assert.deepEqual(
      as.requests.map((r) => form(r).token_type_hint),
      ['refresh_token', 'access_token'],
    );
    assert.equal(await store.readClient(as.origin), undefined);
  });
});

describe('authorize: refusals before anything is sent to the token endpoint', () => {
  /** Protected resource metadata and authorization server metadata for the scripted server. */
  function publish(metadata: Record<string, unknown> = {}): void {
    as.answer('/.well-known/oauth-protected-resource/mcp', {
      status: 200,
      body: { resource: mcpUrl(), authorization_servers: [as.origin] },
    });
    as.answer('/.well-known/oauth-authorization-server', {
      status: 200,
      body: {
        issuer: as.origin,
        authorization_endpoint: `${as.origin}/authorize`,
        token_endpoint: `${as.origin}/token`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        ...metadata,
      },
    });
  }

  it('after abort: "the client is shutting down", nothing fetched', async () => {
    const { session } = make({ interactive: true });
    await session.abort();
    const error = await refusal(() => session.authorize());
    assert.equal(error.code, 'ClientAuthorizationFailed');
    assert.equal(error.message, 'the client is shutting down');
    assert.equal(as.requests.length, 0);
  });

  it('interaction not allowed: ClientInteractionRequired with the login command', async () => {
    const { session } = make({ interactive: false });
    const error = await refusal(() => session.authorize());
    assert.equal(error.code, 'ClientInteractionRequired');
    assert.equal(
      error.message,
      `no usable token is stored for ${mcpUrl()} and interaction is not allowed`,
    );
    assert.equal(error.fix, `run: portcullis login ${mcpUrl()}`);
    assert.equal(as.requests.length, 0);
  });

  const dances: {
    name: string;
    metadata: Record<string, unknown>;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: 'no PKCE S256 advertised',
      metadata: { code_challenge_methods_supported: ['plain'] },
      code: 'ClientPkceUnsupported',
      message: /does not advertise PKCE S256 \(code_challenge_methods_supported: \["plain"\]\)$/,
    },
    {
      name: 'no response_type=code',
      metadata: { response_types_supported: ['token'] },
      code: 'ClientDiscoveryFailed',
      message: /does not support response_type=code$/,
    },
  ];
  for (const c of dances) {
    it(`authorization code with ${c.name}: ${c.code}, nothing registered or opened`, async () => {
      publish(c.metadata);
      const { session } = make({ interactive: true });
      const error = await refusal(() => session.authorize());
      assert.equal(error.code, c.code);
      assert.match(error.message, c.message);
      assert.deepEqual(
        as.requests.filter((r) => !r.path.startsWith('/.well-known/')),
        [],
      );
    });
  }

  it('a pre-registered client bound to another issuer: ClientIssuerMismatch, its secret not sent', async () => {
    publish();
    const { session, store } = make({
      grant: 'client_credentials',
      clientId: 'pre',
      clientSecret: 'shh',
    });
    await store.updateServer(mcpUrl(), () => ({
      serverUrl: mcpUrl(),
      preRegisteredBinding: { clientId: 'pre', issuer: 'https://first.example' },
    }));
    const error = await refusal(() => session.authorize());
    assert.equal(error.code, 'ClientIssuerMismatch');
    assert.equal(
      error.message,
      `client pre was used with authorization server https://first.example for this server, which now names ${as.origin}; its credentials are not sent there`,
    );
    assert.equal(
      error.fix,
      `if the move is expected, run: portcullis logout ${mcpUrl()}, then sign in again`,
    );
    assert.equal(tokenRequests().length, 0);
  });

  it('client credentials answered with a non-Bearer token: ClientTokenRequestFailed, nothing stored', async () => {
    publish();
    as.answer('/token', { status: 200, body: { access_token: 'x', token_type: 'N_A' } });
    const { session, store } = make({ grant: 'client_credentials', clientId: 'pre' });
    const error = await refusal(() => session.authorize());
    assert.equal(
      error.message,
      'the token endpoint issued a N_A token; only Bearer tokens are usable here',
    );
    assert.equal(await session.currentTokens(), undefined);
    assert.equal((await store.readServer(mcpUrl()))?.tokens, undefined);
  });

  it('positive control: client credentials with --scope store the token and bind the client to the issuer', async () => {
    publish();
    as.answer('/token', {
      status: 200,
      body: { access_token: 'cc-at', token_type: 'Bearer', expires_in: 300 },
    });
    const { session, store } = make({
      grant: 'client_credentials',
      clientId: 'pre',
      scope: 'tools',
    });
    assert.equal(await session.authorize(), 'cc-at');
    const record = await store.readServer(mcpUrl());
    assert.deepEqual(record?.preRegisteredBinding, { clientId: 'pre', issuer: as.origin });
    assert.equal(record?.tokens?.[as.origin]?.requested_scope, 'tools');
    assert.equal(form(tokenRequests()[0]).scope, 'tools');
    assert.equal(await session.accessToken(), 'cc-at');
  });
});
