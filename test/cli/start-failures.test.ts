/**
 * Every start-up failure ends with a `fix:` line saying what to do: a port in use names the
 * process holding it (this test process, here) and a free --bind; a taken admin port names its
 * key; a store that cannot be opened names store.sqlite; a bad log level names the levels.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { HMAC_SECRET, spawnCli, tempDir } from '../helpers/cli.ts';

describe('start-up failures say how to fix them', () => {
  let taken: Server;
  let port = 0;
  before(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as { port: number }).port;
  });
  after(() => new Promise((resolve) => taken.close(resolve)));

  function config(extra: Record<string, unknown>, remote: Record<string, unknown> = {}): string {
    const dir = tempDir();
    const path = join(dir, 'portcullis.yaml');
    writeFileSync(
      path,
      stringify({
        remote_mcp: {
          enabled: true,
          bind_address: '127.0.0.1:0',
          auth: 'none',
          allowed_scopes: ['files:read'],
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
          ...remote,
        },
        safety: { remote_mcp_enabled: true },
        upstreams: [
          { name: 'files', path: '/mcp', command: 'node', tool_scopes: { '*': 'files:read' } },
        ],
        ...extra,
      }),
    );
    return path;
  }

  it('the quickstart on a port in use: the holder and a free --bind', () => {
    const result = spawnCli(['serve', '--bind', `127.0.0.1:${port}`], {}, tempDir());
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^portcullis: ListenFailed in .*quickstart\.yaml: 1 problem found$/m,
    );
    assert.match(
      result.stderr,
      new RegExp(
        `- remote_mcp\\.bind_address: 127\\.0\\.0\\.1:${port} is already in use by process ${process.pid} \\(`,
      ),
    );
    const fix =
      /fix: stop that process, or listen on another port: node \S+ serve --bind 127\.0\.0\.1:(\d+)/.exec(
        result.stderr,
      );
    assert.ok(fix, result.stderr);
    assert.notEqual(Number(fix[1]), port);
    assert.doesNotMatch(result.stderr, /npx portcullis/);
  });

  it('a config whose admin listener port is in use names admin_bind_address', () => {
    const path = config({}, { admin_bind_address: `127.0.0.1:${port}` });
    const result = spawnCli(['serve', '--config', path, '--enable-remote-mcp'], {
      TEST_HMAC_SECRET: HMAC_SECRET,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /- remote_mcp\.admin_bind_address: 127\.0\.0\.1:\d+ is already in use/,
    );
    assert.match(result.stderr, /fix: .*set remote_mcp\.admin_bind_address to another port in /);
  });

  it('a store that cannot be created names store.sqlite', () => {
    const dir = tempDir();
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, 'x');
    const path = config({
      authorization_server: { enabled: true },
      store: { sqlite: join(blocker, 'portcullis.db') },
      audit: { path: join(dir, 'audit.jsonl') },
    });
    const result = spawnCli(['serve', '--config', path, '--enable-remote-mcp'], {
      TEST_HMAC_SECRET: HMAC_SECRET,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /- store\.sqlite: the store .* cannot be opened \((ENOTDIR|EEXIST)\)/,
    );
    assert.match(
      result.stderr,
      /fix: point store\.sqlite at a file in a directory this user may create/,
    );
  });

  it('an unknown PORTCULLIS_LOG_LEVEL names the levels', () => {
    const result = spawnCli(
      ['serve', '--bind', '127.0.0.1:0'],
      { PORTCULLIS_LOG_LEVEL: 'verbose' },
      tempDir(),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /PORTCULLIS_LOG_LEVEL is "verbose"; fix: set it to one of fatal, error, warn, info, debug, trace, silent/,
    );
  });
});
