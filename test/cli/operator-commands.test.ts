import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type GrantRecord, SqliteStore, type Store } from '../../src/store/index.ts';
import { cli, REPO_ROOT, tempDir, tempFile } from '../helpers/cli.ts';

/**
 * The operator commands (clients, grants, users) against a real SQLite store: text and --json
 * output, each action's effect in the store, and the error for an unknown id.
 */

const NOW = Date.now();
const DAY = 86_400_000;

function configWithStore(): { path: string; db: string } {
  const db = join(tempDir(), 'store.db');
  const path = tempFile(
    'portcullis.yaml',
    [
      'remote_mcp:',
      '  allowed_scopes: [files:read, files:write]',
      'upstreams:',
      '  - { name: files, path: /mcp, command: node }',
      'authorization_server:',
      '  enabled: true',
      '  clients:',
      '    - client_id: configured-app',
      '      client_name: Configured App',
      '      redirect_uris: [https://app.example/cb]',
      `store: { sqlite: ${JSON.stringify(db)} }`,
      '',
    ].join('\n'),
  );
  return { path, db };
}

function grant(overrides: Partial<GrantRecord>): GrantRecord {
  return {
    grantId: 'g-default',
    kind: 'authorization_code',
    subject: 'alice',
    clientId: 'dyn_one',
    resource: 'http://127.0.0.1:8080/mcp',
    scopes: ['files:read'],
    createdAt: NOW - DAY,
    expiresAt: NOW + 30 * DAY,
    revokedAt: undefined,
    ...overrides,
  };
}

/** Two users, one self-registered client with two grants (one refreshed since). */
async function seed(store: Store): Promise<void> {
  for (const username of ['alice', 'bob']) {
    await store.putUser({
      username,
      passwordHash: 'scrypt$x',
      disabled: false,
      roles: username === 'alice' ? ['admin'] : [],
      createdAt: NOW - 2 * DAY,
      updatedAt: NOW - 2 * DAY,
    });
  }
  await store.putClient({
    clientId: 'dyn_one',
    secretHash: undefined,
    metadata: { client_name: 'Self Named', redirect_uris: ['http://127.0.0.1/callback'] },
    createdAt: NOW - 3 * DAY,
    lastUsedAt: NOW - 1000,
  });
  const aliceGrant = grant({ grantId: 'g-alice', subject: 'alice' });
  await store.putGrant(aliceGrant);
  await store.putGrant(grant({ grantId: 'g-bob', subject: 'bob', scopes: ['files:write'] }));
  await store.putRefreshToken({
    tokenHash: 'rt-hash',
    grantId: 'g-alice',
    clientId: 'dyn_one',
    subject: 'alice',
    resource: aliceGrant.resource,
    scopes: aliceGrant.scopes,
    issuedAt: NOW - 1000,
    expiresAt: NOW + DAY,
    rotatedAt: undefined,
    successorHash: undefined,
    graceBlob: undefined,
  });
}

async function seeded(): Promise<{ path: string; db: string }> {
  const config = configWithStore();
  const store = new SqliteStore(config.db);
  try {
    await seed(store);
  } finally {
    await store.close();
  }
  return config;
}

async function inStore<T>(db: string, read: (store: Store) => Promise<T>): Promise<T> {
  const store = new SqliteStore(db);
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

async function run(args: string[], cwd = REPO_ROOT, input = '') {
  let stdout = '';
  let stderr = '';
  const code = await cli.run(args, {
    stdout: (text) => {
      stdout += `${text}\n`;
    },
    stderr: (text) => {
      stderr += `${text}\n`;
    },
    env: {},
    cwd,
    readStdin: async () => input,
  });
  return { code, stdout, stderr };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('portcullis clients', () => {
  it('list: configured and registered clients, self-asserted names marked unverified', async () => {
    const { path } = await seeded();
    const text = await run(['clients', 'list', '--config', path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^CLIENT ID +KIND +NAME/m);
    assert.match(text.stdout, /configured-app +pre-registered +Configured App /);
    assert.match(text.stdout, /dyn_one +dynamic +Self Named \(unverified\) .* 2 +enabled/);

    const json = await run(['clients', 'list', '--config', path, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const { clients } = JSON.parse(json.stdout) as { clients: Record<string, unknown>[] };
    assert.deepEqual(
      clients.map((c) => Object.keys(c).sort()),
      Array(2).fill(
        [
          'client_id',
          'created_at',
          'disabled_at',
          'kind',
          'last_used_at',
          'live_grants',
          'name',
          'redirect_uris',
          'verification',
        ].sort(),
      ),
    );
    const dynamic = clients.find((c) => c.client_id === 'dyn_one');
    assert.equal(dynamic?.verification, 'unverified');
    assert.equal(dynamic?.live_grants, 2);
    assert.match(String(dynamic?.created_at), ISO);
    assert.equal(dynamic?.disabled_at, null);
    assert.equal(clients.find((c) => c.client_id === 'configured-app')?.verification, 'operator');
  });

  it('show: one client with its grants, as text and JSON', async () => {
    const { path } = await seeded();
    const text = await run(['clients', 'show', 'dyn_one', '--config', path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /name: +Self Named \(unverified\)/);
    assert.match(text.stdout, /redirect URIs: +http:\/\/127\.0\.0\.1\/callback/);
    assert.match(text.stdout, /g-alice +alice +files:read/);
    const json = JSON.parse(
      (await run(['clients', 'show', 'dyn_one', '--config', path, '--json'])).stdout,
    );
    assert.equal(json.client_id, 'dyn_one');
    assert.deepEqual((json.grants as { grant_id: string }[]).map((g) => g.grant_id).sort(), [
      'g-alice',
      'g-bob',
    ]);
    assert.deepEqual(Object.keys(json.grants[0]).sort(), [
      'client_id',
      'created_at',
      'expires_at',
      'grant_id',
      'kind',
      'last_used_at',
      'resource',
      'revoked_at',
      'scopes',
      'subject',
    ]);
  });

  it('disable revokes its grants and makes it unknown; enable accepts it again', async () => {
    const { path, db } = await seeded();
    const disabled = await run(['clients', 'disable', 'dyn_one', '--config', path, '--json']);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.deepEqual(JSON.parse(disabled.stdout), {
      client_id: 'dyn_one',
      disabled: true,
      revoked_grants: 2,
    });
    await inStore(db, async (store) => {
      assert.notEqual((await store.getClient('dyn_one'))?.disabledAt, undefined);
      assert.notEqual((await store.getGrant('g-alice'))?.revokedAt, undefined);
      assert.notEqual((await store.getGrant('g-bob'))?.revokedAt, undefined);
    });
    const listed = await run(['clients', 'list', '--config', path]);
    assert.match(listed.stdout, /dyn_one .* 0 +disabled/);
    const enabled = await run(['clients', 'enable', 'dyn_one', '--config', path]);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.match(enabled.stdout, /enabled client dyn_one/);
    await inStore(db, async (store) => {
      assert.equal((await store.getClient('dyn_one'))?.disabledAt, undefined);
    });
  });

  it('delete removes a registered client and revokes its grants', async () => {
    const { path, db } = await seeded();
    const deleted = await run(['clients', 'delete', 'dyn_one', '--config', path]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /deleted client dyn_one; revoked 2 grant\(s\)/);
    await inStore(db, async (store) => {
      assert.equal(await store.getClient('dyn_one'), undefined);
      assert.notEqual((await store.getGrant('g-alice'))?.revokedAt, undefined);
    });
  });

  it('lists a metadata-document client in use, and disables it by its URL', async () => {
    const { path, db } = await seeded();
    const url = 'https://app.example/client.json';
    await inStore(db, (store) => store.putGrant(grant({ grantId: 'g-doc', clientId: url })));
    const listed = JSON.parse((await run(['clients', 'list', '--json', '--config', path])).stdout);
    const doc = listed.clients.find((c: { client_id: string }) => c.client_id === url);
    assert.deepEqual(
      [doc?.kind, doc?.verification, doc?.live_grants],
      ['metadata-document', 'domain', 1],
    );
    const shown = await run(['clients', 'show', url, '--config', path]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /g-doc/);
    const disabled = await run(['clients', 'disable', url, '--config', path]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(
      disabled.stdout,
      /disabled client https:\/\/app\.example\/client\.json; revoked 1 grant/,
    );
    await inStore(db, async (store) => {
      assert.notEqual((await store.getClient(url))?.disabledAt, undefined);
      assert.notEqual((await store.getGrant('g-doc'))?.revokedAt, undefined);
    });
  });

  const refusals: [string, string[], number, RegExp][] = [
    ['show of an unknown id', ['clients', 'show', 'dyn_nope'], 1, /RecordNotFound: .*"dyn_nope"/],
    ['disable of an unknown id', ['clients', 'disable', 'dyn_nope'], 1, /RecordNotFound/],
    ['enable of an unknown id', ['clients', 'enable', 'dyn_nope'], 1, /RecordNotFound/],
    ['delete of an unknown id', ['clients', 'delete', 'dyn_nope'], 1, /RecordNotFound/],
    [
      'disable of a configured client',
      ['clients', 'disable', 'configured-app'],
      1,
      /configured in authorization_server\.clients.*edit the config/,
    ],
    ['show without an id', ['clients', 'show'], 2, /CLIENT_ID is required/],
    ['an unknown subcommand', ['clients', 'purge'], 2, /unknown subcommand "purge"/],
  ];
  for (const [name, args, exit, message] of refusals) {
    it(`refuses ${name} (exit ${exit})`, async () => {
      const { path } = await seeded();
      const result = await run([...args, '--config', path]);
      assert.equal(result.code, exit, result.stdout + result.stderr);
      assert.match(result.stderr, message);
    });
  }
});

describe('portcullis grants', () => {
  it('list: live grants with first and last use, --user narrows, JSON shape', async () => {
    const { path } = await seeded();
    const text = await run(['grants', 'list', '--config', path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^GRANT ID +USER +CLIENT ID +SCOPES +FIRST USED +LAST USED +STATE$/m);
    assert.match(text.stdout, /g-alice +alice +dyn_one +files:read .* live/);
    const json = await run(['grants', 'list', '--user', 'bob', '--json', '--config', path]);
    const { grants } = JSON.parse(json.stdout) as { grants: Record<string, unknown>[] };
    assert.deepEqual(
      grants.map((g) => [g.grant_id, g.subject, g.scopes]),
      [['g-bob', 'bob', ['files:write']]],
    );
    const alice = JSON.parse(
      (await run(['grants', 'list', '--user', 'alice', '--json', '--config', path])).stdout,
    ).grants[0];
    assert.equal(Date.parse(alice.last_used_at), NOW - 1000, 'last use: the latest refresh');
    assert.equal(Date.parse(alice.created_at), NOW - DAY, 'first use: the grant');
  });

  it('revoke: the grant is revoked and leaves the live list, --all still shows it', async () => {
    const { path, db } = await seeded();
    const revoked = await run(['grants', 'revoke', 'g-alice', '--config', path, '--json']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.deepEqual(JSON.parse(revoked.stdout), {
      grant_id: 'g-alice',
      revoked: true,
      already_revoked: false,
    });
    await inStore(db, async (store) => {
      assert.notEqual((await store.getGrant('g-alice'))?.revokedAt, undefined);
    });
    const live = await run(['grants', 'list', '--config', path]);
    assert.doesNotMatch(live.stdout, /g-alice/);
    const all = await run(['grants', 'list', '--all', '--config', path]);
    assert.match(all.stdout, /g-alice .* revoked/);
  });

  it('refuses an unknown grant id (exit 1) and a missing one (exit 2)', async () => {
    const { path } = await seeded();
    const unknown = await run(['grants', 'revoke', 'g-nope', '--config', path]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /RecordNotFound: no grant has the id "g-nope"/);
    const missing = await run(['grants', 'revoke', '--config', path]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /GRANT_ID is required/);
  });
});

describe('portcullis users list | disable | enable', () => {
  it('list shows roles, status and live grants, as text and JSON', async () => {
    const { path } = await seeded();
    const text = await run(['users', 'list', '--config', path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^alice +admin +\S+ \S+ +1 +enabled$/m);
    const { users } = JSON.parse((await run(['users', 'list', '--json', '--config', path])).stdout);
    assert.deepEqual(Object.keys(users[0]).sort(), [
      'created_at',
      'disabled',
      'live_grants',
      'roles',
      'updated_at',
      'username',
    ]);
    assert.deepEqual(
      users.map((u: { username: string; roles: string[] }) => [u.username, u.roles]),
      [
        ['alice', ['admin']],
        ['bob', []],
      ],
    );
  });

  it('disable revokes the user’s grants and stops sign-in; enable allows it again', async () => {
    const { path, db } = await seeded();
    const disabled = await run(['users', 'disable', 'bob', '--json', '--config', path]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.deepEqual(JSON.parse(disabled.stdout), {
      username: 'bob',
      disabled: true,
      revoked_grants: 1,
    });
    await inStore(db, async (store) => {
      assert.equal((await store.getUser('bob'))?.disabled, true);
      assert.notEqual((await store.getGrant('g-bob'))?.revokedAt, undefined);
      assert.equal((await store.getGrant('g-alice'))?.revokedAt, undefined, 'others untouched');
    });
    assert.equal((await run(['users', 'enable', 'bob', '--config', path])).code, 0);
    await inStore(db, async (store) => {
      assert.equal((await store.getUser('bob'))?.disabled, false);
    });
  });

  it('refuses an unknown user (exit 1)', async () => {
    const { path } = await seeded();
    const result = await run(['users', 'disable', 'nobody', '--config', path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /RecordNotFound: no user is named "nobody"/);
  });

  it('add --role admin gives the role; a later password reset keeps it', async () => {
    const { path, db } = await seeded();
    const added = await run(
      ['users', 'add', 'carol', '--role', 'admin', '--password-stdin', '--config', path],
      REPO_ROOT,
      'a long password\n',
    );
    assert.equal(added.code, 0, added.stderr);
    await run(
      ['users', 'add', 'carol', '--password-stdin', '--config', path],
      REPO_ROOT,
      'another one\n',
    );
    await inStore(db, async (store) => {
      assert.deepEqual((await store.getUser('carol'))?.roles, ['admin']);
    });
  });

  it('works in the quickstart directory with no --config and no environment', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'data'));
    await inStore(join(cwd, 'data', 'portcullis.db'), seed);
    const added = await run(['users', 'add', 'dave', '--password-stdin'], cwd, 'dave password\n');
    assert.equal(added.code, 0, added.stderr);
    const listed = await run(['users', 'list', '--json'], cwd);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      JSON.parse(listed.stdout).users.map((u: { username: string }) => u.username),
      ['alice', 'bob', 'dave'],
    );
    const grants = await run(['grants', 'list'], cwd);
    assert.equal(grants.code, 0, grants.stderr);
    assert.match(grants.stdout, /g-alice/);
  });
});

describe('operator revocation drops the kept identity provider tokens', () => {
  /** alice and bob as federated people, each with provider tokens kept (sealed) for upstreams. */
  async function federated(): Promise<{ path: string; db: string }> {
    const config = await seeded();
    await inStore(config.db, async (store) => {
      for (const subject of ['alice', 'bob']) {
        await store.putFederatedIdentity({
          subject,
          provider: 'corp',
          issuer: 'https://idp.example',
          providerSubject: `${subject}-at-corp`,
          label: `${subject}@example.com`,
          allowedScopes: ['files:read'],
          sealedTokens: `sealed-${subject}`,
          updatedAt: NOW - DAY,
        });
      }
    });
    return config;
  }

  const cases: { name: string; args: string[]; dropped: string; kept: string }[] = [
    { name: 'grants revoke', args: ['grants', 'revoke', 'g-alice'], dropped: 'alice', kept: 'bob' },
    { name: 'users disable', args: ['users', 'disable', 'bob'], dropped: 'bob', kept: 'alice' },
  ];
  for (const { name, args, dropped, kept } of cases) {
    it(`${name} drops ${dropped}'s provider tokens and leaves ${kept}'s`, async () => {
      const { path, db } = await federated();
      const result = await run([...args, '--config', path]);
      assert.equal(result.code, 0, result.stderr);
      await inStore(db, async (store) => {
        const gone = await store.getFederatedIdentity(dropped);
        assert.equal(gone?.sealedTokens, undefined);
        // The identity itself stays (the person may sign in at the provider again).
        assert.equal(gone?.providerSubject, `${dropped}-at-corp`);
        // Positive control: the other person's tokens are untouched.
        assert.equal((await store.getFederatedIdentity(kept))?.sealedTokens, `sealed-${kept}`);
      });
    });
  }
});
