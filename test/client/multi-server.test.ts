import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI_ENTRY, runCli, tempDir } from '../helpers/cli.ts';
import { startOAuthFixture } from '../helpers/oauth-fixture.ts';

function serversFile(yaml: string): string {
  const path = join(tempDir(), 'servers.yaml');
  writeFileSync(path, yaml);
  return path;
}

async function connectMany(file: string, open: string, env: Record<string, string> = {}) {
  let stderr = '';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI_ENTRY, 'connect', '--config', file, '--open', open, '--token-store', tempDir()],
    env: { PATH: process.env.PATH ?? '', ...env },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: 'desktop-app', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

describe('connect --config: several remote servers as one stdio server', () => {
  it('prefixes tool names, routes calls, and connects static-header servers before OAuth ones', async () => {
    const files = await startOAuthFixture({ apiKey: 'files-key' });
    const search = await startOAuthFixture();
    const file = serversFile(`servers:
  - name: search
    url: ${search.mcpUrl}
  - name: files
    url: ${files.mcpUrl}
    headers:
      X-Api-Key: \${FILES_KEY}
`);
    const { client, stderr } = await connectMany(file, 'fetch', { FILES_KEY: 'files-key' });
    try {
      // The OAuth server arrives after the stdio side is up; wait for its tools.
      let names: string[] = [];
      for (let i = 0; i < 600 && names.length < 8; i++) {
        names = (await client.listTools()).tools.map((t) => t.name).sort();
        if (names.length < 8) await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(names, [
        'files__ask',
        'files__echo',
        'files__fail',
        'files__notify',
        'search__ask',
        'search__echo',
        'search__fail',
        'search__notify',
      ]);
      const a = await client.callTool({ name: 'files__echo', arguments: { text: 'one' } });
      const b = await client.callTool({ name: 'search__echo', arguments: { text: 'two' } });
      assert.match(JSON.stringify(a), /echo: one/);
      assert.match(JSON.stringify(b), /echo: two/);
      await assert.rejects(
        client.callTool({ name: 'nobody__echo', arguments: {} }),
        /unknown tool/,
      );
      const order = stderr();
      assert.ok(order.indexOf('files: connected') < order.indexOf('search: connected'), order);
      assert.equal(files.counts.authorize, 0);
      assert.equal(search.counts.authorize, 1);
    } finally {
      await client.close();
      await files.stop();
      await search.stop();
    }
  });

  it('an authorization waiting for a person does not hold up the other servers', async () => {
    const files = await startOAuthFixture({ apiKey: 'files-key' });
    const slow = await startOAuthFixture();
    const file = serversFile(`servers:
  - name: slow
    url: ${slow.mcpUrl}
  - name: files
    url: ${files.mcpUrl}
    headers: { X-Api-Key: files-key }
`);
    // --open print: the URL is printed and nobody ever opens it.
    const { client, stderr } = await connectMany(file, 'print');
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('files__echo'));
      assert.ok(!names.some((n) => n.startsWith('slow__')));
      const result = await client.callTool({
        name: 'files__echo',
        arguments: { text: 'meanwhile' },
      });
      assert.match(JSON.stringify(result), /echo: meanwhile/);
      for (let i = 0; i < 600 && !stderr().includes('To sign in'); i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.match(stderr(), /To sign in, open this URL/);
    } finally {
      await client.close(); // and the pending authorization is abandoned, so the process ends
      await files.stop();
      await slow.stop();
    }
  });

  const invalid: [string, string, RegExp][] = [
    [
      'headers and oauth together',
      'servers:\n  - name: a\n    url: https://a.example/mcp\n    headers: { X: y }\n    oauth: { scope: s }\n',
      /headers and oauth are mutually exclusive/,
    ],
    [
      'duplicate names',
      'servers:\n  - name: a\n    url: https://a.example/mcp\n  - name: a\n    url: https://b.example/mcp\n',
      /server names must be unique/,
    ],
    [
      'a name with underscores',
      'servers:\n  - name: a_b\n    url: https://a.example/mcp\n',
      /servers\[0\]\.name/,
    ],
    [
      'an unknown key',
      'servers:\n  - name: a\n    url: https://a.example/mcp\n    token: x\n',
      /unknown key/,
    ],
    [
      'a missing variable',
      'servers:\n  - name: a\n    url: https://a.example/mcp\n    headers: { X: "${NOPE_NOT_SET}" }\n',
      /NOPE_NOT_SET is not set/,
    ],
    ['no servers', 'servers: []\n', /servers/],
  ];
  for (const [name, yaml, message] of invalid) {
    it(`refuses a servers file with ${name} (exit 2, key path named)`, async () => {
      const result = await runCli(['connect', '--config', serversFile(yaml)]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }
  it('per-server flags are refused with --config', async () => {
    const result = await runCli([
      'connect',
      '--config',
      serversFile('servers: []\n'),
      '--client-id',
      'x',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--client-id belong in the servers file/);
  });
});

describe('examples/client-servers.yaml', () => {
  it('is a valid servers file', async () => {
    const { loadClientServersFile } = await import('../../src/config/index.ts');
    const file = loadClientServersFile(
      new URL('../../examples/client-servers.yaml', import.meta.url).pathname,
      {
        FILES_API_TOKEN: 'x',
      },
    );
    assert.deepEqual(
      file.servers.map((s) => s.name),
      ['files', 'search', 'tickets'],
    );
  });
});
