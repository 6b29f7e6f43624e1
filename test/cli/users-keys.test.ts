import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { verifyPassword } from '../../src/authorization-server/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { CLI_ENTRY, cli, REPO_ROOT, runCli, tempDir, tempFile } from '../helpers/cli.ts';

function configWithStore(enabled = true): { path: string; db: string } {
  const db = join(tempDir(), 'store.db');
  const path = tempFile(
    'portcullis.yaml',
    [
      'remote_mcp:',
      '  allowed_scopes: [files:read]',
      'upstreams:',
      '  - { name: files, path: /mcp, command: node }',
      `authorization_server: { enabled: ${enabled} }`,
      `store: { sqlite: ${JSON.stringify(db)} }`,
      '',
    ].join('\n'),
  );
  return { path, db };
}

function spawn(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [CLI_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    timeout: 30_000,
    ...(input === undefined ? {} : { input }),
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the CLI in this process with `input` as standard input. */
async function runIn(args: string[], input = '') {
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
    cwd: REPO_ROOT,
    readStdin: async () => input,
  });
  return { code, stdout, stderr };
}

async function passwordOf(db: string, name: string): Promise<string | undefined> {
  const store = new SqliteStore(db);
  try {
    return (await store.getUser(name))?.passwordHash;
  } finally {
    await store.close();
  }
}

describe('portcullis users add', () => {
  it('creates a user from a password on standard input, then resets it', async () => {
    const { path, db } = configWithStore();
    const created = spawn(
      ['users', 'add', 'alice', '--config', path, '--password-stdin'],
      'first password\n',
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created user alice$/m);
    assert.doesNotMatch(created.stdout, /first password/, 'never echoed');
    const hash = await passwordOf(db, 'alice');
    assert.match(hash ?? '', /^scrypt\$32768\$8\$1\$/);
    assert.equal(await verifyPassword('first password', hash ?? ''), true);

    const reset = spawn(
      ['users', 'add', 'alice', '--config', path, '--password-stdin'],
      'second password\r\n',
    );
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /reset the password of user alice/);
    assert.equal(
      await verifyPassword('second password', (await passwordOf(db, 'alice')) ?? ''),
      true,
    );
  });

  it('without --password-stdin generates a password and prints it once', async () => {
    const { path, db } = configWithStore();
    const result = await runCli(['users', 'add', 'bob', '--config', path]);
    assert.equal(result.code, 0, result.stderr);
    const printed = /password \(shown once\): (\S+)/.exec(result.stdout)?.[1];
    assert.ok(printed && printed.length >= 20);
    assert.equal(await verifyPassword(printed, (await passwordOf(db, 'bob')) ?? ''), true);
  });

  it('reads standard input through the injected reader in-process', async () => {
    const { path, db } = configWithStore();
    let out = '';
    const code = await cli.run(['users', 'add', 'carol', '--config', path, '--password-stdin'], {
      stdout: (text) => {
        out += text;
      },
      stderr: () => undefined,
      env: {},
      cwd: REPO_ROOT,
      readStdin: async () => 'in-process secret\n',
    });
    assert.equal(code, 0);
    assert.match(out, /created user carol/);
    assert.equal(
      await verifyPassword('in-process secret', (await passwordOf(db, 'carol')) ?? ''),
      true,
    );
  });

  const refusals: [string, string[], string | undefined, RegExp][] = [
    ['a bad name', ['users', 'add', 'bad name'], undefined, /NAME must be/],
    ['no --config', ['users', 'add', 'dave'], undefined, /--config FILE is required/],
    ['a short password', ['users', 'add', 'dave', '--password-stdin'], 'short\n', /at least 8/],
    ['an unknown subcommand', ['users', 'remove', 'dave'], undefined, /did you mean add/],
    ['no name', ['users', 'add'], undefined, /NAME is required/],
  ];
  for (const [name, args, input, message] of refusals) {
    it(`refuses ${name} with exit 2`, async () => {
      const { path } = configWithStore();
      const needsConfig = !args.includes('remove') && name !== 'no --config';
      const result = await runIn(needsConfig ? [...args, '--config', path] : args, input);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, message);
    });
  }

  it('refuses a config whose authorization server is off', async () => {
    const { path } = configWithStore(false);
    const result = await runIn(
      ['users', 'add', 'dave', '--config', path, '--password-stdin'],
      'long enough\n',
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /authorization_server\.enabled/);
  });
});

describe('portcullis keys rotate', () => {
  it('adds a key published now that signs ten minutes later, and retires the current one', async () => {
    const { path, db } = configWithStore();
    assert.equal(spawn(['users', 'add', 'x', '--config', path]).code, 0);
    const first = spawn(['keys', 'rotate', '--config', path]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /^new key [A-Za-z0-9_-]{43} \(ES256\) is published now and signs from \S+Z$/m,
    );
    const second = spawn(['keys', 'rotate', '--config', path]);
    assert.equal(second.code, 0);
    assert.match(
      second.stdout,
      /key [A-Za-z0-9_-]{43} stops signing at \S+ and leaves the key set at \S+/,
    );
    const store = new SqliteStore(db);
    try {
      const keys = await store.listSigningKeys();
      assert.equal(keys.length, 2);
      assert.ok(keys[0]?.retiresAt !== undefined);
      assert.equal(keys[1]?.retiresAt, undefined);
    } finally {
      await store.close();
    }
  });

  it('help lists users and keys; keys without a subcommand shows its usage', async () => {
    const help = await runCli(['--help']);
    assert.match(help.stdout, /users add/);
    assert.match(help.stdout, /keys rotate/);
    const keys = await runCli(['keys']);
    assert.equal(keys.code, 2);
    assert.match(keys.stdout, /Usage: portcullis keys rotate --config FILE/);
  });
});
