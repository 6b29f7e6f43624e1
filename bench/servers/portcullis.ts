/**
 * Portcullis as a benchmark target, started through the real `serve` command: JWT verification
 * against a JWKS (served here on loopback, under the development switch), per-tool policy,
 * rate limiting on (limits far above the load), audit on.
 * Usage: portcullis.ts UPSTREAM_PORT JWKS_JSON ISSUER AUDIENCE. Prints `READY <port>`.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { run } from '../../src/cli/main.ts';

const [upstreamPort = '0', jwksJson = '{}', issuer = '', audience = ''] = process.argv.slice(2);
process.env.PORTCULLIS_LOG_LEVEL = 'error';

const jwks = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' }).end(jwksJson);
});
await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
const jwksPort = (jwks.address() as { port: number }).port;

const port = await new Promise<number>((resolve) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address() as { port: number };
    probe.close(() => resolve(free));
  });
});

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
const config = join(dir, 'gateway.yaml');
writeFileSync(
  config,
  stringify({
    remote_mcp: {
      enabled: true,
      bind_address: `127.0.0.1:${port}`,
      issuer,
      jwks_url: `http://127.0.0.1:${jwksPort}/jwks.json`,
      audiences: [audience],
      allowed_scopes: ['bench:echo'],
      token_id_hmac_secret_env: 'BENCH_HMAC_SECRET',
      rate_limit_max_requests: 100_000_000,
      rate_limit_window_seconds: 60,
      max_connections: 1024,
    },
    safety: { remote_mcp_enabled: true },
    upstreams: [
      {
        name: 'echo',
        path: '/mcp',
        url: `http://127.0.0.1:${upstreamPort}/mcp`,
        tool_scopes: { echo: 'bench:echo' },
      },
    ],
    audit: { path: join(dir, 'audit.jsonl') },
    development: { allow_loopback_urls: true },
  }),
);

let announced = false;
const code = await run(['serve', '--config', config, '--enable-remote-mcp'], {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => {
    if (!announced && /serving http:\/\/127\.0\.0\.1:\d+\/mcp/.test(text)) {
      announced = true;
      process.stdout.write(`READY ${port}\n`);
    }
  },
  env: { ...process.env, BENCH_HMAC_SECRET: 'bench-token-id-secret-0123456789abcdef' },
  cwd: dir,
});
jwks.close();
process.exit(code);
