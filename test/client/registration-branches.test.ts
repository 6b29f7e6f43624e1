import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  obtainClient,
  type RegistrationOptions,
  registeredCallbackPort,
} from '../../src/client/registration.ts';
import { TokenStore } from '../../src/client/token-store.ts';
import type { StoredClient } from '../../src/client/types.ts';
import { type ClientError, isClientError, RequestError } from '../../src/errors/index.ts';
import { createHarness, type Harness } from '../authorization-server/harness.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  type ScriptedServer,
  scriptedDiscovery,
  startScriptedServer,
} from './helpers/scripted-server.ts';

/**
 * How the client obtains a client ID (MCP basic/authorization, RFC 7591): the order of the
 * options, what a refused or malformed registration becomes, and when a stored registration is
 * reused rather than sent again.
 */

let as: ScriptedServer;
before(async () => {
  as = await startScriptedServer();
});
after(() => as?.close());
beforeEach(() => as.reset());

const redirectUri = 'http://127.0.0.1:43111/callback';

function options(
  metadata: Record<string, unknown>,
  extra: Partial<RegistrationOptions> = {},
): RegistrationOptions {
  return {
    discovery: scriptedDiscovery(as.origin, metadata),
    store: TokenStore.open(tempDir(), { env: {} }),
    fetch,
    redirectUri,
    ...extra,
  };
}

const withRegistration = () => ({ registration_endpoint: `${as.origin}/register` });

async function refusal(run: () => Promise<unknown>): Promise<ClientError> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isClientError(error), `expected a ClientError, got ${String(error)}`);
  return error;
}

const registrationBodies = () =>
  as.requests
    .filter((r) => r.path === '/register')
    .map((r) => JSON.parse(r.body) as Record<string, unknown>);

describe('obtaining a client ID: no way offered', () => {
  const cases: {
    name: string;
    metadata: () => Record<string, unknown>;
    extra: Partial<RegistrationOptions>;
    message: string;
    fix: string;
  }[] = [
    {
      name: 'no metadata document support, no registration endpoint',
      metadata: () => ({}),
      extra: {},
      message:
        'no --client-id was given; it does not support client ID metadata documents; it offers no dynamic client registration',
      fix: 'register a client at ISSUER and pass --client-id (and --client-secret-env VAR for a confidential client)',
    },
    {
      name: 'metadata documents supported but no --client-metadata-url',
      metadata: () => ({ client_id_metadata_document_supported: true }),
      extra: {},
      message:
        'no --client-id was given; no --client-metadata-url was given; it offers no dynamic client registration',
      fix: 'register a client at ISSUER and pass --client-id (and --client-secret-env VAR for a confidential client), or pass --client-metadata-url with the URL of your client metadata document',
    },
    {
      name: 'client_credentials (no redirect URI) even with a registration endpoint',
      metadata: withRegistration,
      extra: { redirectUri: undefined, grant: 'client_credentials' },
      message:
        'no --client-id was given; it does not support client ID metadata documents; client_credentials needs a pre-registered client',
      fix: 'register a client at ISSUER and pass --client-id (and --client-secret-env VAR for a confidential client)',
    },
    {
      name: 'a --client-metadata-url the server does not support',
      metadata: () => ({}),
      extra: { clientMetadataUrl: 'https://app.example/client.json' },
      message:
        'no --client-id was given; it does not support client ID metadata documents; it offers no dynamic client registration',
      fix: 'register a client at ISSUER and pass --client-id (and --client-secret-env VAR for a confidential client)',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ClientRegistrationUnavailable saying what is missing, nothing sent`, async () => {
      const error = await refusal(() => obtainClient(options(c.metadata(), c.extra)));
      assert.equal(error.code, 'ClientRegistrationUnavailable');
      assert.equal(
        error.message,
        `${as.origin} offers no way for this client to obtain a client ID: ${c.message}`,
      );
      assert.equal(error.fix, c.fix.replace('ISSUER', as.origin));
      assert.equal(as.requests.length, 0);
    });
  }

  const badUrls = ['http://app.example/client.json', 'not a url'];
  for (const url of badUrls) {
    it(`--client-metadata-url ${url}: refused as not https, nothing sent`, async () => {
      const error = await refusal(() =>
        obtainClient(
          options({ client_id_metadata_document_supported: true }, { clientMetadataUrl: url }),
        ),
      );
      assert.equal(error.code, 'ClientRegistrationUnavailable');
      assert.equal(
        error.message,
        `--client-metadata-url must be an https URL with a path, found ${url}`,
      );
      assert.equal(as.requests.length, 0);
    });
  }

  it('positive control: pre-registered credentials win over everything, secret kept, nothing sent', async () => {
    const client = await obtainClient(
      options(withRegistration(), { clientId: 'pre', clientSecret: 'shh' }),
    );
    assert.deepEqual(client, {
      issuer: as.origin,
      client_id: 'pre',
      client_secret: 'shh',
      source: 'pre-registered',
    });
    const publicOne = await obtainClient(options({}, { clientId: 'pre' }));
    assert.equal(publicOne.client_secret, undefined);
    const cimd = await obtainClient(
      options(
        { ...withRegistration(), client_id_metadata_document_supported: true },
        { clientMetadataUrl: 'https://app.example/client.json' },
      ),
    );
    assert.deepEqual(cimd, {
      issuer: as.origin,
      client_id: 'https://app.example/client.json',
      source: 'metadata-document',
    });
    assert.equal(as.requests.length, 0);
  });
});

describe('dynamic client registration refused or malformed (RFC 7591 §3.2.2)', () => {
  const refusals: { name: string; status: number; body: unknown; detail: RegExp }[] = [
    {
      name: '400 invalid_client_metadata with a description',
      status: 400,
      body: { error: 'invalid_client_metadata', error_description: 'redirect not allowed' },
      detail: /^invalid_client_metadata \(redirect not allowed\)$/,
    },
    {
      name: '400 invalid_client_metadata without a description',
      status: 400,
      body: { error: 'invalid_client_metadata' },
      detail: /^invalid_client_metadata$/,
    },
    {
      // The 1.x SDK knows no class for this RFC 7591 code and would report server_error.
      name: "400 invalid_redirect_uri with a description: the server's own code",
      status: 400,
      body: { error: 'invalid_redirect_uri', error_description: 'loopback only' },
      detail: /^invalid_redirect_uri \(loopback only\)$/,
    },
    {
      name: "400 unapproved_software_statement: the server's own code",
      status: 400,
      body: { error: 'unapproved_software_statement', error_description: 'not this one' },
      detail: /^unapproved_software_statement \(not this one\)$/,
    },
    {
      name: '400 with control characters in the description: made printable',
      status: 400,
      body: { error: 'invalid_client_metadata', error_description: 'bad\u001b[2J\nname' },
      detail: /^invalid_client_metadata \(bad\?\[2J\?name\)$/,
    },
    {
      name: '400 with a JSON body that is not an OAuth error',
      status: 400,
      body: { message: 'nope' },
      detail: /HTTP 400/,
    },
    {
      name: '500 with an HTML page',
      status: 500,
      body: '<html>oops</html>',
      detail: /./,
    },
    {
      name: '201 without a client_id',
      status: 201,
      body: { client_name: 'x' },
      detail: /./,
    },
  ];
  for (const c of refusals) {
    it(`${c.name}: ClientRegistrationFailed, nothing stored`, async () => {
      as.answer('/register', { status: c.status, body: c.body });
      const opts = options(withRegistration());
      const error = await refusal(() => obtainClient(opts));
      assert.equal(error.code, 'ClientRegistrationFailed');
      const prefix = `dynamic client registration at ${as.origin} failed: `;
      assert.ok(error.message.startsWith(prefix), error.message);
      assert.match(error.message.slice(prefix.length), c.detail);
      assert.equal(
        error.fix,
        'register a client by hand and pass --client-id, or --client-metadata-url if supported',
      );
      assert.equal(await opts.store.readClient(as.origin), undefined);
      assert.equal(registrationBodies().length, 1);
    });
  }

  describe('against the co-located authorization server', () => {
    let h: Harness;
    let metadata: Record<string, unknown>;
    before(async () => {
      h = await createHarness();
      const response = await fetch(`${h.issuer}/.well-known/oauth-authorization-server`);
      metadata = (await response.json()) as Record<string, unknown>;
    });
    after(() => h?.close());
    const real = (uri: string): RegistrationOptions => ({
      discovery: scriptedDiscovery(h.issuer, metadata),
      store: TokenStore.open(tempDir(), { env: {} }),
      fetch,
      redirectUri: uri,
    });

    it('a redirect URI with userinfo: its invalid_redirect_uri and description reach the user', async () => {
      const error = await refusal(() => obtainClient(real('http://user@127.0.0.1:43111/cb')));
      assert.equal(error.code, 'ClientRegistrationFailed');
      assert.match(
        error.message,
        new RegExp(
          `^dynamic client registration at ${h.issuer} failed: invalid_redirect_uri \\(.+\\)$`,
        ),
      );
      assert.doesNotMatch(error.message, /server_error/);
    });

    it('positive control: a loopback redirect URI is registered', async () => {
      const client = await obtainClient(real('http://127.0.0.1:43111/cb'));
      assert.equal(client.source, 'dynamic');
      assert.deepEqual(client.redirect_uris, ['http://127.0.0.1:43111/cb']);
    });
  });

  it('a blocked fetch (RequestError) passes through unchanged', async () => {
    const blocked = new RequestError('FetchBlocked', 'blocked');
    const guard: typeof fetch = async () => {
      throw blocked;
    };
    const error = await obtainClient(options(withRegistration(), { fetch: guard })).catch(
      (e: unknown) => e,
    );
    assert.equal(error, blocked);
  });

  it('positive control: a registration answered 201 is stored and returned', async () => {
    as.answer('/register', {
      status: 201,
      body: { client_id: 'dyn-1', redirect_uris: [redirectUri] },
    });
    const opts = options(withRegistration());
    const client = await obtainClient(opts);
    assert.equal(client.client_id, 'dyn-1');
    assert.deepEqual(await opts.store.readClient(as.origin), client);
  });
});

describe('what a dynamic registration sends and keeps', () => {
  const methods: { supported: string[] | undefined; method: string }[] = [
    { supported: undefined, method: 'none' },
    { supported: ['client_secret_basic', 'none'], method: 'none' },
    { supported: ['client_secret_post'], method: 'client_secret_post' },
    { supported: ['private_key_jwt', 'client_secret_basic'], method: 'client_secret_basic' },
    { supported: ['private_key_jwt'], method: 'none' },
  ];
  for (const c of methods) {
    it(`token_endpoint_auth_methods_supported ${JSON.stringify(c.supported)}: asks for ${c.method}`, async () => {
      as.answer('/register', { status: 201, body: { client_id: 'x', redirect_uris: [] } });
      const client = await obtainClient(
        options({
          ...withRegistration(),
          ...(c.supported ? { token_endpoint_auth_methods_supported: c.supported } : {}),
        }),
      );
      assert.equal(registrationBodies()[0]?.token_endpoint_auth_method, c.method);
      // The server's answer named no method: the one asked for is kept.
      assert.equal(client.token_endpoint_auth_method, c.method);
    });
  }

  it('an answer with empty redirect_uris and no grant_types keeps what was asked; secret and expiry kept', async () => {
    const expires = Math.floor(Date.now() / 1000) + 3600;
    as.answer('/register', {
      status: 201,
      body: {
        client_id: 'conf',
        redirect_uris: [],
        client_secret: 'sec',
        client_secret_expires_at: expires,
        token_endpoint_auth_method: 'client_secret_basic',
      },
    });
    const client = await obtainClient(
      options(withRegistration(), { clientName: 'My CLI', softwareVersion: '1.2.3' }),
    );
    assert.deepEqual(client, {
      issuer: as.origin,
      client_id: 'conf',
      client_secret: 'sec',
      client_secret_expires_at: expires,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      source: 'dynamic',
    });
    const sent = registrationBodies()[0];
    assert.equal(sent?.client_name, 'My CLI');
    assert.equal(sent?.software_version, '1.2.3');
    assert.equal(sent?.application_type, 'native');
    assert.equal(sent?.scope, undefined);
  });

  it('device_code: registers without redirect URIs or response types', async () => {
    as.answer('/register', { status: 201, body: { client_id: 'dev', redirect_uris: [] } });
    const client = await obtainClient(
      options(withRegistration(), { redirectUri: undefined, grant: 'device_code' }),
    );
    const sent = registrationBodies()[0];
    assert.deepEqual(sent?.redirect_uris, []);
    assert.deepEqual(sent?.response_types, []);
    assert.deepEqual(sent?.grant_types, [
      'urn:ietf:params:oauth:grant-type:device_code',
      'refresh_token',
    ]);
    assert.equal(sent?.client_name, 'Portcullis');
    assert.equal(sent?.software_version, undefined);
    assert.deepEqual(client.redirect_uris, []);
    assert.deepEqual(client.grant_types, sent?.grant_types);
  });
});

describe('reusing a stored registration', () => {
  const stored = (overrides: Partial<StoredClient>): StoredClient => ({
    issuer: as.origin,
    client_id: 'stored',
    source: 'dynamic',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    ...overrides,
  });

  const cases: {
    name: string;
    client: () => StoredClient;
    extra: Partial<RegistrationOptions>;
    reused: boolean;
  }[] = [
    {
      name: 'an expired client secret',
      client: () => stored({ client_secret: 's', client_secret_expires_at: 1 }),
      extra: {},
      reused: false,
    },
    {
      name: 'another redirect port',
      client: () => stored({ redirect_uris: ['http://127.0.0.1:9/callback'] }),
      extra: {},
      reused: false,
    },
    {
      name: 'no redirect URIs recorded',
      client: () => stored({ redirect_uris: undefined }),
      extra: {},
      reused: false,
    },
    {
      name: 'a browser registration, for the device grant',
      client: () => stored({}),
      extra: { redirectUri: undefined, grant: 'device_code' },
      reused: false,
    },
    {
      name: 'no grant types recorded, for the device grant',
      client: () => stored({ grant_types: undefined }),
      extra: { redirectUri: undefined, grant: 'device_code' },
      reused: false,
    },
    {
      name: 'a device registration, for the device grant',
      client: () =>
        stored({
          grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
          redirect_uris: [],
        }),
      extra: { redirectUri: undefined, grant: 'device_code' },
      reused: true,
    },
    {
      name: 'a secret that expires in the future, same redirect URI (positive control)',
      client: () =>
        stored({
          client_secret: 's',
          client_secret_expires_at: Math.floor(Date.now() / 1000) + 600,
        }),
      extra: {},
      reused: true,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.reused ? 'reused, nothing sent' : 'registers again'}`, async () => {
      as.answer('/register', {
        status: 201,
        body: { client_id: 'fresh', redirect_uris: [redirectUri] },
      });
      const opts = options(withRegistration(), c.extra);
      const before = c.client();
      await opts.store.writeClient(before);
      const client = await obtainClient(opts);
      if (c.reused) {
        assert.deepEqual(client, before);
        assert.equal(as.requests.length, 0);
      } else {
        assert.equal(client.client_id, 'fresh');
        assert.equal(registrationBodies().length, 1);
        assert.equal((await opts.store.readClient(as.origin))?.client_id, 'fresh');
      }
    });
  }
});

describe('the callback port of a stored registration', () => {
  const cases: { name: string; client: StoredClient | undefined; port: number | undefined }[] = [
    { name: 'nothing stored', client: undefined, port: undefined },
    {
      name: 'a pre-registered client',
      client: {
        issuer: 'X',
        client_id: 'c',
        source: 'pre-registered',
        redirect_uris: [redirectUri],
      },
      port: undefined,
    },
    {
      name: 'a dynamic client without redirect URIs',
      client: { issuer: 'X', client_id: 'c', source: 'dynamic', redirect_uris: [] },
      port: undefined,
    },
    {
      name: 'an unparsable redirect URI',
      client: { issuer: 'X', client_id: 'c', source: 'dynamic', redirect_uris: ['::nope'] },
      port: undefined,
    },
    {
      name: 'a redirect URI on the default port',
      client: {
        issuer: 'X',
        client_id: 'c',
        source: 'dynamic',
        redirect_uris: ['http://127.0.0.1/cb'],
      },
      port: undefined,
    },
    {
      name: 'a dynamic registration on port 43111 (positive control)',
      client: { issuer: 'X', client_id: 'c', source: 'dynamic', redirect_uris: [redirectUri] },
      port: 43111,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.port ?? 'no port'}`, async () => {
      const store = TokenStore.open(tempDir(), { env: {} });
      const issuer = 'https://as.example';
      if (c.client) await store.writeClient({ ...c.client, issuer });
      assert.equal(await registeredCallbackPort(store, issuer), c.port);
    });
  }
});
