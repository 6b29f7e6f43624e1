import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.ts';
import { startOAuthFixture } from '../helpers/oauth-fixture.ts';

describe('client commands: help and usage', () => {
  for (const command of ['connect', 'login', 'call', 'logout']) {
    it(`${command} --help documents the shared client options`, async () => {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`^Usage: portcullis ${command} `));
      for (const flag of ['--token-store', '--client-id', '--client-secret-env'])
        assert.match(result.stdout, new RegExp(flag));
      if (command !== 'logout') {
        for (const flag of [
          '--scope',
          '--client-metadata-url',
          '--callback-port',
          '--open MODE',
          'browser',
          'print',
          'fetch',
        ]) {
          assert.match(result.stdout, new RegExp(flag.replace(/[-]/g, '\\-')));
        }
      }
    });
  }
  it('portcullis --help lists the client commands', async () => {
    const result = await runCli(['--help']);
    for (const command of ['connect URL', 'login URL', 'call URL TOOL', 'logout URL'])
      assert.match(result.stdout, new RegExp(command));
  });

  const usage: [string, string[], RegExp][] = [
    [
      '--header with an OAuth option',
      ['call', 'https://mcp.example/mcp', 't', '--header', 'X-Key: 1', '--client-id', 'c'],
      /--header \(static headers\) and OAuth options \(--client-id\) are mutually exclusive/,
    ],
    [
      '--header with --scope',
      ['connect', 'https://mcp.example/mcp', '--header', 'X-Key: 1', '--scope', 'a'],
      /mutually exclusive/,
    ],
    [
      'a malformed --header',
      ['call', 'https://mcp.example/mcp', 't', '--header', 'no colon'],
      /must look like "Name: value"/,
    ],
    [
      'a --header with a missing variable',
      ['call', 'https://mcp.example/mcp', 't', '--header', 'X-Key: ${NOPE_NOT_SET}'],
      /environment variable NOPE_NOT_SET is not set/,
    ],
    [
      'a --header overriding the transport',
      ['call', 'https://mcp.example/mcp', 't', '--header', 'Mcp-Session-Id: x'],
      /set by the transport/,
    ],
    [
      'bad --open',
      ['call', 'https://mcp.example/mcp', 't', '--open', 'shell'],
      /--open must be browser, print or fetch/,
    ],
    [
      'bad --grant',
      ['call', 'https://mcp.example/mcp', 't', '--grant', 'password'],
      /--grant must be/,
    ],
    [
      'bad --callback-port',
      ['login', 'https://mcp.example/mcp', '--callback-port', '99999'],
      /--callback-port must be a port number/,
    ],
    [
      '--args not JSON',
      ['call', 'https://mcp.example/mcp', 't', '--args', '{'],
      /--args must be valid JSON/,
    ],
    [
      '--args not an object',
      ['call', 'https://mcp.example/mcp', 't', '--args', '[1]'],
      /--args must be a JSON object/,
    ],
    ['missing TOOL', ['call', 'https://mcp.example/mcp'], /URL and TOOL are required/],
    [
      '--client-secret-env unset',
      [
        'login',
        'https://mcp.example/mcp',
        '--client-id',
        'c',
        '--client-secret-env',
        'NOPE_NOT_SET',
      ],
      /NOPE_NOT_SET: the environment variable is not set/,
    ],
    [
      'client_credentials without credentials',
      ['call', 'https://mcp.example/mcp', 't', '--grant', 'client_credentials'],
      /needs --client-id and --client-secret-env or a private key/,
    ],
    [
      'unknown flag',
      ['call', 'https://mcp.example/mcp', 't', '--scopes', 'a'],
      /unknown flag --scopes \(did you mean --scope\?\)/,
    ],
    [
      'URL and --config together',
      ['connect', 'https://mcp.example/mcp', '--config', 'x.yaml'],
      /either URL or --config/,
    ],
  ];
  for (const [name, argv, message] of usage) {
    it(`usage error (exit 2): ${name}`, async () => {
      const result = await runCli(argv);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }

  const badUrls: [string, string][] = [
    ['plain http to a public host', 'http://mcp.example/mcp'],
    ['a non-http scheme', 'file:///etc/passwd'],
    ['credentials in the URL', 'https://u:p@mcp.example/mcp'],
    ['not a URL', 'mcp.example'],
  ];
  for (const [name, url] of badUrls) {
    it(`refuses ${name} as the server URL (exit 1, ClientServerUrlInvalid)`, async () => {
      const result = await runCli(['call', url, 't', '--token-store', tempDir()]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /ClientServerUrlInvalid/);
    });
  }
});

describe('static headers (--header), exclusive with OAuth', () => {
  it('sends the expanded header on every request and needs no authorization', async () => {
    const fixture = await startOAuthFixture({ apiKey: 'k-123' });
    try {
      const result = await runCli(
        [
          'call',
          fixture.mcpUrl,
          'echo',
          '--args',
          '{"text":"h"}',
          '--header',
          'X-Api-Key: ${MY_KEY}',
        ],
        { MY_KEY: 'k-123' },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /echo: h/);
      assert.equal(fixture.counts.authorize, 0);
      assert.equal(fixture.counts.register, 0);
    } finally {
      await fixture.stop();
    }
  });
  it('a 401 with static headers is final: exit 1, ClientServerRefused, no OAuth attempted', async () => {
    const fixture = await startOAuthFixture({ apiKey: 'k-123' });
    try {
      const result = await runCli(['call', fixture.mcpUrl, 'echo', '--header', 'X-Api-Key: wrong']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /ClientServerRefused: .* answered 401 to the static headers/);
      assert.equal(fixture.counts.authorize, 0);
    } finally {
      await fixture.stop();
    }
  });
});
