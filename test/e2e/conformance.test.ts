import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ChildServer, startEverythingHttp } from '../helpers/child-servers.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  EVERYTHING_ENTRY,
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';

/**
 * Proxy transparency: @modelcontextprotocol/conformance's server suite gives the same result per
 * scenario and check through the gateway (auth: none, loopback) as directly against the same
 * upstream, @modelcontextprotocol/server-everything. The gateway itself must also pass
 * dns-rebinding-protection, which the upstream, listening without Host checks, does not.
 */

const CONFORMANCE = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url),
);
const DNS_REBINDING = 'dns-rebinding-protection';

/** scenario → check id → status */
type Results = Record<string, Record<string, string>>;

async function runConformance(url: string): Promise<Results> {
  const dir = tempDir();
  const child = spawn(
    process.execPath,
    [
      CONFORMANCE,
      'server',
      '--url',
      url,
      '--suite',
      'active',
      '--spec-version',
      '2025-11-25',
      '-o',
      dir,
    ],
    {
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const results: Results = {};
  for (const entry of readdirSync(dir)) {
    const scenario = entry.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
    const checks = JSON.parse(readFileSync(join(dir, entry, 'checks.json'), 'utf8')) as {
      id: string;
      status: string;
    }[];
    results[scenario] = Object.fromEntries(checks.map((check) => [check.id, check.status]));
  }
  return results;
}

const withoutRebinding = (results: Results): Results =>
  Object.fromEntries(Object.entries(results).filter(([scenario]) => scenario !== DNS_REBINDING));

const everythingPolicy = {
  tool_scopes: { '*': 'mcp:all' },
  method_scopes: { resources: 'mcp:all', prompts: 'mcp:all', completion: 'mcp:all' },
};

describe('proxy transparency with the MCP conformance server suite', () => {
  let everything: ChildServer;
  let overHttp: TestGateway;
  let overStdio: TestGateway;
  let direct: Results;

  before(async () => {
    everything = await startEverythingHttp();
    overHttp = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        allowedScopes: ['mcp:all'],
        upstreams: [httpUpstream(everything.url, everythingPolicy)],
      }),
    );
    overStdio = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        allowedScopes: ['mcp:all'],
        upstreams: [
          {
            name: 'everything',
            path: '/mcp',
            command: process.execPath,
            args: [EVERYTHING_ENTRY, 'stdio'],
            ...everythingPolicy,
          },
        ],
      }),
    );
    direct = await runConformance(everything.url);
  });

  after(async () => {
    await overHttp?.close();
    await overStdio?.close();
    await everything?.stop();
  });

  it('ran a meaningful suite directly (positive control)', () => {
    assert.ok(Object.keys(direct).length >= 25, Object.keys(direct).join(', '));
    assert.equal(direct['tools-list']?.['tools-list'], 'SUCCESS');
    assert.equal(direct.ping?.ping, 'SUCCESS');
  });

  it('gives the same per-scenario results through the gateway to the HTTP upstream', async () => {
    const through = await runConformance(overHttp.url());
    assert.deepEqual(withoutRebinding(through), withoutRebinding(direct));
    assert.deepEqual(through[DNS_REBINDING], {
      'localhost-host-rebinding-rejected': 'SUCCESS',
      'localhost-host-valid-accepted': 'SUCCESS',
    });
  });

  it('gives the same per-scenario results through the gateway to the same server over stdio', async () => {
    const through = await runConformance(overStdio.url());
    assert.deepEqual(withoutRebinding(through), withoutRebinding(direct));
    assert.deepEqual(through[DNS_REBINDING], {
      'localhost-host-rebinding-rejected': 'SUCCESS',
      'localhost-host-valid-accepted': 'SUCCESS',
    });
  });
});
