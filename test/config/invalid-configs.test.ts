import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HMAC_SECRET, runCli, spawnCli, tempFile } from '../helpers/cli.ts';
import { mutate, toYaml, VALID_ENV, validDocument } from '../helpers/configs.ts';

interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Key paths (or locations) the message must name. */
  readonly names: readonly string[];
  /** Further text the message must contain. */
  readonly says?: readonly string[];
}

const cases: Case[] = [
  {
    name: 'enabled without issuer',
    yaml: mutate((d) => delete d.remote_mcp.issuer),
    names: ['remote_mcp.issuer: is required when remote_mcp.enabled is true'],
  },
  {
    name: 'enabled without a JWKS source',
    yaml: mutate((d) => delete d.remote_mcp.jwks_url),
    names: ['remote_mcp.jwks_url: no key source'],
  },
  {
    name: 'explicitly empty audiences',
    yaml: mutate((d) => {
      d.remote_mcp.audiences = [];
    }),
    names: ['remote_mcp.audiences: must not be empty'],
  },
  {
    name: 'empty allowed_scopes',
    yaml: mutate((d) => {
      d.remote_mcp.allowed_scopes = [];
      d.upstreams[0] = { name: 'files', path: '/mcp', command: 'node' };
    }),
    names: ['remote_mcp.allowed_scopes: must not be empty'],
  },
  {
    name: 'missing HMAC secret key',
    yaml: mutate((d) => delete d.remote_mcp.token_id_hmac_secret_env),
    names: ['remote_mcp.token_id_hmac_secret_env: is required'],
  },
  {
    name: 'HMAC secret variable not set',
    yaml: mutate(() => {}),
    env: {},
    names: ['remote_mcp.token_id_hmac_secret_env'],
    says: ['TEST_HMAC_SECRET, which is not set'],
  },
  {
    name: 'short HMAC secret',
    yaml: mutate(() => {}),
    env: { TEST_HMAC_SECRET: 'short-secret' },
    names: ['remote_mcp.token_id_hmac_secret_env'],
    says: ['is 12 bytes; it must be at least 32'],
  },
  {
    name: 'clock skew above 300',
    yaml: mutate((d) => {
      d.remote_mcp.clock_skew_seconds = 301;
    }),
    names: ['remote_mcp.clock_skew_seconds: must be at most 300 seconds'],
  },
  {
    name: 'auth none on a public bind',
    yaml: mutate((d) => {
      d.remote_mcp.auth = 'none';
      d.remote_mcp.bind_address = '0.0.0.0:8080';
      d.remote_mcp.public_url = 'https://gw.example.com';
    }),
    names: ['remote_mcp.auth'],
    says: ['only on a loopback bind address'],
  },
  {
    name: 'public bind without public_url',
    yaml: mutate((d) => {
      d.remote_mcp.bind_address = '0.0.0.0:8080';
    }),
    names: ['remote_mcp.public_url'],
    says: ['https public_url is required'],
  },
  {
    name: 'public bind with http public_url',
    yaml: mutate((d) => {
      d.remote_mcp.bind_address = '0.0.0.0:8080';
      d.remote_mcp.public_url = 'http://gw.example.com';
    }),
    names: ['remote_mcp.public_url'],
  },
  {
    name: 'upstream with both command and url',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], url: 'http://127.0.0.1:9000/mcp', args: [] };
    }),
    names: ['upstreams[0]: has both command and url'],
  },
  {
    name: 'upstream with neither command nor url',
    yaml: mutate((d) => {
      d.upstreams[0] = { name: 'files', path: '/mcp' };
    }),
    names: ['upstreams[0]: has neither command nor url'],
  },
  {
    name: 'duplicate upstream paths',
    yaml: mutate((d) => {
      d.upstreams.push({ name: 'other', path: '/mcp', url: 'http://127.0.0.1:9000/mcp' });
    }),
    names: ['upstreams[1].path: /mcp is already used by upstreams[0]'],
  },
  {
    name: 'relative upstream path',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], path: 'mcp' };
    }),
    names: ['upstreams[0].path: must be an absolute path'],
  },
  {
    name: 'upstream path with dot segments',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], path: '/a/../mcp' };
    }),
    names: ['upstreams[0].path: must not contain . or .. segments'],
  },
  {
    name: 'upstream path with trailing slash',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], path: '/mcp/' };
    }),
    names: ['upstreams[0].path: must be normalized'],
  },
  {
    name: 'upstream path reserved by the gateway',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], path: '/.well-known/mcp' };
    }),
    names: ['upstreams[0].path'],
    says: ['reserved'],
  },
  {
    name: 'tool scope not in allowed_scopes',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], tool_scopes: { delete_file: 'files:delete' } };
    }),
    names: ['upstreams[0].tool_scopes.delete_file'],
    says: ['"files:delete" is not in remote_mcp.allowed_scopes'],
  },
  {
    name: 'zero max_connections',
    yaml: mutate((d) => {
      d.remote_mcp.max_connections = 0;
    }),
    names: ['remote_mcp.max_connections: must be greater than 0'],
  },
  {
    name: 'negative rate-limit window',
    yaml: mutate((d) => {
      d.remote_mcp.rate_limit_window_seconds = -5;
    }),
    names: ['remote_mcp.rate_limit_window_seconds'],
  },
  {
    name: 'unknown key with a close match',
    yaml: mutate((d) => {
      d.remote_mcp.audiance = ['x'];
    }),
    names: ['remote_mcp.audiance: unknown key'],
    says: ['did you mean "audiences"?'],
  },
  {
    name: 'unknown top-level block',
    yaml: mutate((d) => {
      d.logging = { level: 'debug' };
    }),
    names: ['logging: unknown key'],
  },
  {
    name: 'wrong type: string for a number',
    yaml: mutate((d) => {
      d.remote_mcp.max_connections = 'many';
    }),
    names: ['remote_mcp.max_connections: expected number, found "many"'],
  },
  {
    name: 'wrong type: scalar for a list',
    yaml: mutate((d) => {
      d.remote_mcp.allowed_scopes = 'files:read';
    }),
    names: ['remote_mcp.allowed_scopes: expected array'],
  },
  {
    name: 'wrong enum value',
    yaml: mutate((d) => {
      d.remote_mcp.auth = 'basic';
    }),
    names: ['remote_mcp.auth: must be one of "oauth", "none"'],
  },
  {
    name: 'algorithm none',
    yaml: mutate((d) => {
      d.remote_mcp.algorithms = ['RS256', 'none'];
    }),
    names: ['remote_mcp.algorithms[1]'],
    says: ['"none" is never accepted'],
  },
  {
    name: 'symmetric algorithm',
    yaml: mutate((d) => {
      d.remote_mcp.algorithms = ['HS256'];
    }),
    names: ['remote_mcp.algorithms[0]'],
    says: ['symmetric'],
  },
  {
    name: 'missing environment variable in a string',
    yaml: mutate((d) => {
      d.upstreams[0] = {
        name: 'files',
        path: '/mcp',
        url: 'https://files.internal/mcp',
        headers: { Authorization: 'Bearer ${FILES_TOKEN}' },
      };
    }),
    names: ['upstreams[0].headers.Authorization'],
    says: ['environment variable FILES_TOKEN is not set'],
  },
  {
    name: 'YAML syntax error',
    yaml: 'remote_mcp:\n  enabled: true\n   bind_address: [unclosed\n',
    names: ['line '],
    says: ['ConfigSyntax'],
  },
  {
    name: 'duplicate YAML key',
    yaml: 'upstreams: []\nupstreams: []\n',
    names: ['line 2'],
    says: ['ConfigSyntax'],
  },
  {
    name: 'no upstreams',
    yaml: mutate((d) => {
      d.upstreams = [];
    }),
    names: ['upstreams: must not be empty'],
  },
  {
    name: 'issuer over plain http',
    yaml: mutate((d) => {
      d.remote_mcp.issuer = 'http://auth.example.com/';
    }),
    names: ['remote_mcp.issuer: must be https'],
  },
  {
    name: 'JWKS on loopback without the development switch',
    yaml: mutate((d) => {
      d.remote_mcp.jwks_url = 'http://127.0.0.1:9999/jwks';
    }),
    names: ['remote_mcp.jwks_url'],
    says: ['development.allow_loopback_urls'],
  },
  {
    name: 'development switch on a public bind',
    yaml: mutate((d) => {
      d.remote_mcp.bind_address = '0.0.0.0:8080';
      d.remote_mcp.public_url = 'https://gw.example.com';
      d.development = { allow_loopback_urls: true };
    }),
    names: ['development.allow_loopback_urls'],
  },
  {
    name: 'dynamic registration by token without the token',
    yaml: mutate((d) => {
      d.authorization_server = { enabled: true, dynamic_registration: 'token' };
    }),
    names: ['authorization_server.initial_access_token_env'],
  },
  {
    name: 'store with both backends',
    yaml: mutate((d) => {
      d.store = { sqlite: './x.db', redis: 'redis://127.0.0.1:6379' };
    }),
    names: ['store: needs exactly one of sqlite or redis'],
  },
  {
    name: 'public_url with a path',
    yaml: mutate((d) => {
      d.remote_mcp.public_url = 'http://127.0.0.1:8080/base';
    }),
    names: ['remote_mcp.public_url: must be an origin without path or query'],
  },
  {
    name: 'resource on another origin',
    yaml: mutate((d) => {
      d.remote_mcp.resource = 'https://elsewhere.example.com/mcp';
    }),
    names: ['remote_mcp.resource'],
    says: ['public origin http://127.0.0.1:8080'],
  },
  {
    name: 'headers on a stdio upstream',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], headers: { 'X-Key': 'v' } };
    }),
    names: ['upstreams[0].headers: applies only to url upstreams'],
  },
  {
    name: 'args on an HTTP upstream',
    yaml: mutate((d) => {
      d.upstreams[0] = { name: 'f', path: '/mcp', url: 'https://f.example.com/mcp', args: ['x'] };
    }),
    names: ['upstreams[0]: args, env and cwd apply only to command upstreams'],
  },
  {
    name: 'duplicate upstream names',
    yaml: mutate((d) => {
      d.upstreams.push({ name: 'files', path: '/other', url: 'https://f.example.com/mcp' });
    }),
    names: ['upstreams[1].name'],
  },
  {
    name: 'introspection secret variable not set',
    yaml: mutate((d) => {
      d.remote_mcp.introspection = {
        url: 'https://auth.example.com/introspect',
        client_id: 'gw',
        client_secret_env: 'NOT_SET_ANYWHERE',
      };
    }),
    names: ['remote_mcp.introspection.client_secret_env'],
    says: ['NOT_SET_ANYWHERE, which is not set'],
  },
  {
    name: 'pre-registered client with an http redirect URI off loopback',
    yaml: mutate((d) => {
      d.authorization_server = {
        enabled: true,
        clients: [{ client_id: 'app', redirect_uris: ['http://app.example.com/cb'] }],
      };
    }),
    names: ['authorization_server.clients[0].redirect_uris[0]'],
  },
  {
    name: 'pre-registered client scope outside allowed_scopes',
    yaml: mutate((d) => {
      d.authorization_server = {
        enabled: true,
        clients: [
          { client_id: 'app', redirect_uris: ['https://app.example.com/cb'], scope: ['admin'] },
        ],
      };
    }),
    names: ['authorization_server.clients[0].scope'],
  },
  {
    name: 'client_credentials client without a secret',
    yaml: mutate((d) => {
      d.authorization_server = {
        enabled: true,
        clients: [
          {
            client_id: 'bot',
            redirect_uris: ['https://bot.example.com/cb'],
            grant_types: ['client_credentials'],
          },
        ],
      };
    }),
    names: ['authorization_server.clients[0].client_secret_env'],
  },
  {
    name: 'malformed bind address',
    yaml: mutate((d) => {
      d.remote_mcp.bind_address = 'localhost';
    }),
    names: ['remote_mcp.bind_address: must be HOST:PORT'],
  },
  {
    name: 'malformed trusted proxy',
    yaml: mutate((d) => {
      d.remote_mcp.trusted_proxies = ['10.0.0.0/33'];
    }),
    names: ['remote_mcp.trusted_proxies[0]'],
  },
  {
    name: 'allowed origin with a path',
    yaml: mutate((d) => {
      d.remote_mcp.allowed_origins = ['https://app.example.com/page'];
    }),
    names: ['remote_mcp.allowed_origins[0]: must be an origin'],
  },
  {
    name: 'invalid environment reference syntax',
    yaml: mutate((d) => {
      d.upstreams[0] = { ...d.upstreams[0], args: ['${not valid}'] };
    }),
    names: ['upstreams[0].args[0]'],
    says: ['not a valid environment variable reference'],
  },
  {
    name: 'admin listener on the main listener address',
    yaml: mutate((d) => {
      d.remote_mcp.admin_bind_address = '127.0.0.1:8080';
    }),
    names: ['remote_mcp.admin_bind_address: must not be the main listener'],
  },
  {
    name: 'admin listener on the wildcard address at the main port',
    yaml: mutate((d) => {
      d.remote_mcp.admin_bind_address = '0.0.0.0:8080';
    }),
    names: ['remote_mcp.admin_bind_address'],
  },
  {
    name: 'admin listener address that is not HOST:PORT',
    yaml: mutate((d) => {
      d.remote_mcp.admin_bind_address = 'localhost';
    }),
    names: ['remote_mcp.admin_bind_address: must be HOST:PORT'],
  },
  {
    name: 'not a mapping at the top',
    yaml: '- just\n- a list\n',
    names: ['top level'],
  },
];

describe('config check refuses invalid configs (fail-closed rules)', () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const file = tempFile('config.yaml', testCase.yaml);
      const result = await runCli(['config', 'check', '--config', file], testCase.env ?? VALID_ENV);
      assert.equal(result.code, 2, `exit code; stderr:\n${result.stderr}`);
      assert.equal(result.stdout, '');
      for (const text of [...testCase.names, ...(testCase.says ?? [])]) {
        assert.ok(result.stderr.includes(text), `message should name "${text}":\n${result.stderr}`);
      }
      assert.ok(!result.stderr.includes(HMAC_SECRET), 'the secret never appears in messages');
    });
  }

  it('positive control: the unmodified config passes', async () => {
    const file = tempFile('config.yaml', toYaml(validDocument()));
    const result = await runCli(['config', 'check', '--config', file], VALID_ENV);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid/);
  });

  it('has at least 25 cases', () => {
    assert.ok(cases.length >= 25);
  });
});

describe('config errors are reported together, with fixes, without secrets', () => {
  it('lists every problem, not just the first', async () => {
    const yaml = mutate((d) => {
      delete d.remote_mcp.issuer;
      d.remote_mcp.clock_skew_seconds = 999;
      d.remote_mcp.max_connections = 0;
      d.remote_mcp.bogus = 1;
    });
    const result = await runCli(
      ['config', 'check', '--config', tempFile('c.yaml', yaml)],
      VALID_ENV,
    );
    assert.equal(result.code, 2);
    for (const path of [
      'remote_mcp.clock_skew_seconds',
      'remote_mcp.max_connections',
      'remote_mcp.bogus',
    ]) {
      assert.ok(result.stderr.includes(`${path}:`), `${path} in:\n${result.stderr}`);
    }
    assert.match(result.stderr, /3 problems found/);
    assert.match(result.stderr, /fix: /);
  });

  it('reports schema problems and missing variables in one pass', async () => {
    const yaml = mutate((d) => {
      d.remote_mcp.max_connections = 'x';
      d.upstreams[0] = { name: 'f', path: '/mcp', url: 'https://x.example/${NOPE}' };
    });
    const result = await runCli(
      ['config', 'check', '--config', tempFile('c.yaml', yaml)],
      VALID_ENV,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /upstreams\[0\]\.url: environment variable NOPE is not set/);
    assert.match(result.stderr, /remote_mcp\.max_connections: expected number/);
  });

  it('never echoes a value that came from the environment', async () => {
    const secret = 'sk-live-DO-NOT-PRINT-ME-1234567890';
    const yaml = mutate((d) => {
      d.remote_mcp.max_connections = '${LEAKY}';
    });
    const result = await runCli(['config', 'check', '--config', tempFile('c.yaml', yaml)], {
      ...VALID_ENV,
      LEAKY: secret,
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /remote_mcp\.max_connections: expected number, found <redacted>/);
    assert.ok(!result.stderr.includes(secret));
  });

  it('a missing file is a config error naming the path', async () => {
    const result = await runCli(['config', 'check', '--config', '/nonexistent/portcullis.yaml']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /ConfigUnreadable/);
    assert.match(result.stderr, /\/nonexistent\/portcullis\.yaml does not exist/);
  });

  it('exit codes hold for a real process', () => {
    const bad = tempFile(
      'c.yaml',
      mutate((d) => delete d.remote_mcp.issuer),
    );
    const result = spawnCli(['config', 'check', '--config', bad], VALID_ENV);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /remote_mcp\.issuer/);
    const good = tempFile('c.yaml', toYaml(validDocument()));
    assert.equal(spawnCli(['config', 'check', '--config', good], VALID_ENV).code, 0);
  });
});
