/**
 * A client an operator disabled is unknown to every endpoint: the registry resolves it to
 * nothing, whether it registered itself or is a metadata-document URL (whose document is then
 * not even fetched). Positive controls: the same clients resolve while enabled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClientRegistry,
  MetadataDocumentResolver,
  operator,
} from '../../src/authorization-server/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';

const URL_CLIENT = 'https://app.example/client.json';

function setup() {
  const loaded = loadConfigText(
    [
      'remote_mcp: { allowed_scopes: [files:read] }',
      'upstreams: [{ name: files, path: /mcp, command: node }]',
      'authorization_server: { enabled: true }',
      '',
    ].join('\n'),
    { env: { PORTCULLIS_TOKEN_HMAC_SECRET: HMAC_SECRET } },
  );
  const store = new MemoryStore();
  const fetched: string[] = [];
  const documents = new MetadataDocumentResolver({
    fetch: async (input) => {
      fetched.push(String(input));
      return Response.json({
        client_id: URL_CLIENT,
        client_name: 'Doc App',
        redirect_uris: ['https://app.example/cb'],
      });
    },
    now: () => 1_800_000_000_000,
    allowLoopback: false,
    allowedScopes: ['files:read'],
  });
  return { store, fetched, registry: new ClientRegistry(loaded, store, documents) };
}

describe('disabled clients are unknown', () => {
  it('a registered client: resolves while enabled, not once disabled, again once enabled', async () => {
    const { store, registry } = setup();
    await store.putClient({
      clientId: 'dyn_a',
      secretHash: undefined,
      metadata: {
        client_name: 'A',
        redirect_uris: ['http://127.0.0.1/cb'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'none',
      },
      createdAt: 1,
      lastUsedAt: undefined,
    });
    assert.equal((await registry.resolve('dyn_a'))?.name, 'A', 'positive control');
    await operator.disableClient(store, registry.preRegistered(), 'dyn_a', 2);
    assert.equal(await registry.resolve('dyn_a'), undefined);
    await operator.enableClient(store, 'dyn_a');
    assert.equal((await registry.resolve('dyn_a'))?.name, 'A');
  });

  it('a metadata-document client: disabled by its URL, its document is not even fetched', async () => {
    const enabled = setup();
    assert.equal((await enabled.registry.resolve(URL_CLIENT))?.name, 'Doc App', 'positive control');
    assert.equal(enabled.fetched.length, 1);
    const disabled = setup();
    await operator.disableClient(disabled.store, disabled.registry.preRegistered(), URL_CLIENT, 2);
    assert.equal(await disabled.registry.resolve(URL_CLIENT), undefined);
    assert.deepEqual(disabled.fetched, [], 'nothing fetched for a disabled client');
  });
});
