import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TokenStore } from '../../src/client/index.ts';
import { isClientError } from '../../src/errors/index.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { type OAuthFixture, startOAuthFixture } from '../helpers/oauth-fixture.ts';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Every 12-character window of a secret, raw and in the encodings a careless store might use. */
function fragments(secret: string): string[] {
  const forms = [
    secret,
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('hex'),
  ];
  return forms.flatMap((form) => {
    const out: string[] = [];
    for (let i = 0; i + 12 <= form.length; i += 4) out.push(form.slice(i, i + 12));
    return out;
  });
}

describe('encrypted token store', () => {
  let fixture: OAuthFixture;
  let store: string;
  before(async () => {
    fixture = await startOAuthFixture({ revocation: true });
    store = tempDir();
    const login = await runCli([
      'login',
      fixture.mcpUrl,
      '--open',
      'fetch',
      '--token-store',
      store,
    ]);
    assert.equal(login.code, 0, login.stderr);
  });
  after(() => fixture.stop());

  it('its files contain no token, refresh token or client secret substring', async () => {
    const secrets = [...fixture.issued];
    assert.ok(secrets.length >= 2, 'an access and a refresh token were issued');
    const files = filesUnder(store);
    assert.ok(files.length >= 3, `key, server record and client registration: ${files.join(', ')}`);
    for (const file of files) {
      const bytes = readFileSync(file).toString('latin1');
      for (const secret of secrets) {
        for (const piece of fragments(secret)) {
          assert.ok(!bytes.includes(piece), `${file} contains part of a token`);
        }
      }
      assert.ok(!bytes.includes(fixture.mcpUrl), `${file} names the server in clear`);
    }
  });

  it('files are 0600 and folders 0700', () => {
    for (const file of filesUnder(store)) assert.equal(statSync(file).mode & 0o777, 0o600, file);
    for (const dir of [store, join(store, 'servers'), join(store, 'clients')]) {
      assert.equal(statSync(dir).mode & 0o777, 0o700, dir);
    }
  });

  it('the stored tokens work: call needs no new authorization', async () => {
    const before = fixture.counts.authorize;
    const result = await runCli([
      'call',
      fixture.mcpUrl,
      'echo',
      '--args',
      '{"text":"stored"}',
      '--token-store',
      store,
      '--non-interactive',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /echo: stored/);
    assert.equal(fixture.counts.authorize, before);
  });

  it('a different key cannot read it (ClientTokenStoreFailed, no crash)', async () => {
    const wrong = TokenStore.open(store, {
      env: { PORTCULLIS_TOKEN_KEY: randomBytes(32).toString('hex') },
    });
    await assert.rejects(
      wrong.readServer(fixture.mcpUrl),
      (e) =>
        isClientError(e) && e.code === 'ClientTokenStoreFailed' && /cannot decrypt/.test(e.message),
    );
  });

  it('a file copied over another slot fails to open (the slot is authenticated data)', async () => {
    const copy = tempDir();
    const key = randomBytes(32).toString('base64url');
    const a = TokenStore.open(copy, { env: { PORTCULLIS_TOKEN_KEY: key } });
    await a.updateServer('https://a.example/mcp', () => ({ serverUrl: 'https://a.example/mcp' }));
    await a.updateServer('https://b.example/mcp', () => ({ serverUrl: 'https://b.example/mcp' }));
    const [first, second] = filesUnder(join(copy, 'servers')).filter((f) => f.endsWith('.json'));
    assert.ok(first && second);
    copyFileSync(first, second);
    const results = await Promise.allSettled([
      a.readServer('https://a.example/mcp'),
      a.readServer('https://b.example/mcp'),
    ]);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
  });

  it('PORTCULLIS_TOKEN_KEY is used instead of a key file; a malformed one is refused', async () => {
    const dir = tempDir();
    const env = { PORTCULLIS_TOKEN_KEY: randomBytes(32).toString('hex') };
    const s = TokenStore.open(dir, { env });
    await s.updateServer('https://x.example/mcp', () => ({ serverUrl: 'https://x.example/mcp' }));
    assert.ok(!readdirSync(dir).includes('key'));
    assert.deepEqual(await TokenStore.open(dir, { env }).readServer('https://x.example/mcp'), {
      serverUrl: 'https://x.example/mcp',
    });
    assert.throws(
      () => TokenStore.open(tempDir(), { env: { PORTCULLIS_TOKEN_KEY: 'short' } }),
      (e) => isClientError(e) && e.code === 'ClientTokenStoreFailed',
    );
  });

  it('refuses a key file readable by others, and a folder writable by others', () => {
    const dir = tempDir();
    TokenStore.open(dir, { env: {} });
    chmodSync(join(dir, 'key'), 0o644);
    assert.throws(
      () => TokenStore.open(dir, { env: {} }),
      (e) => isClientError(e) && /chmod 600/.test(e.fix ?? ''),
    );
    const open = tempDir();
    chmodSync(open, 0o777);
    assert.throws(
      () => TokenStore.open(open, { env: {} }),
      (e) => isClientError(e) && e.code === 'ClientTokenStoreFailed',
    );
  });

  it('concurrent writers never lose an update (lock + atomic rename)', async () => {
    const dir = tempDir();
    const s = TokenStore.open(dir, { env: {} });
    const url = 'https://counter.example/mcp';
    await Promise.all(
      Array.from({ length: 20 }, () =>
        s.updateServer(url, (record) => ({
          serverUrl: url,
          tokens: {
            n: {
              access_token: String(Number(record?.tokens?.n?.access_token ?? 0) + 1),
              token_type: 'Bearer',
            },
          },
        })),
      ),
    );
    const record = await s.readServer(url);
    assert.equal(record?.tokens?.n?.access_token, '20');
    assert.deepEqual(
      readdirSync(join(dir, 'servers')).filter((n) => !n.endsWith('.json')),
      [],
      'no temp or lock files left',
    );
  });

  it('an abandoned lock (dead process) is broken', async () => {
    const dir = tempDir();
    const s = TokenStore.open(dir, { env: {} });
    const url = 'https://lock.example/mcp';
    await s.updateServer(url, () => ({ serverUrl: url }));
    const [file] = filesUnder(join(dir, 'servers'));
    assert.ok(file);
    writeFileSync(
      `${file}.lock`,
      `999999999 ${(await import('node:os')).hostname()} ${Date.now()} x`,
    );
    await s.updateServer(url, (r) => ({
      ...(r ?? { serverUrl: url }),
      issuer: 'https://as.example',
    }));
    assert.equal((await s.readServer(url))?.issuer, 'https://as.example');
  });
});
