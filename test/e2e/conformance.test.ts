import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

/**
 * Proxy transparency for both protocol eras with @modelcontextprotocol/conformance's server
 * mode, which freezes one required set per revision (`--requirements`): through the gateway
 * (auth: none, loopback) every scenario and check gives the same result as directly against
 * the same upstream —
 *   2026-07-28 requirements against a 2026-07-28-only upstream (@modelcontextprotocol/server);
 *   2025-11-25 requirements against @modelcontextprotocol/server-everything, over HTTP and over
 *   stdio —
 * except the differences named in ALLOWED below, each a place where the gateway does what the
 * specification asks and the upstream alone does not.
 */

const CONFORMANCE = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url),
);

/** scenario → check id → status */
type Results = Record<string, Record<string, string>>;

interface AllowedDifference {
  readonly scenario: string;
  readonly check: string;
  readonly direct: string;
  readonly gateway: string;
  readonly why: string;
}

/**
 * Where the gateway's answer differs from the upstream's, and why; nothing else may differ. All
 * but the last are places where the gateway is stricter than the upstream.
 */
const ALLOWED: readonly AllowedDifference[] = [
  {
    scenario: 'dns-rebinding-protection',
    check: 'localhost-host-rebinding-rejected',
    direct: 'FAILURE',
    gateway: 'SUCCESS',
    why: 'the gateway checks Host (streamable-http "Security & Endpoint"); the upstreams listen without',
  },
  {
    scenario: 'server-session-lifecycle',
    check: 'server-session-terminated-returns-404',
    direct: 'FAILURE',
    gateway: 'SUCCESS',
    why: 'the gateway answers a session it ended with 404 (2025-11-25 transports, "Session Management"); server-everything does not',
  },
  {
    scenario: 'server-sse-polling',
    check: 'server-sse-priming-event',
    direct: 'SUCCESS',
    gateway: 'WARNING',
    why: 'a stdio upstream has no event ids, so the gateway offers no SSE resumption for it and sends no priming event (a SHOULD, hence a warning); HTTP upstreams pass theirs through',
  },
];

async function runConformance(url: string, revision: string): Promise<Results> {
  const dir = tempDir();
  const child = spawn(
    process.execPath,
    [CONFORMANCE, 'server', '--url', url, '--requirements', revision, '-o', dir],
    { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const results: Results = {};
  for (const entry of readdirSync(dir)) {
    const scenario = entry.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
    const file = join(dir, entry, 'checks.json');
    if (!existsSync(file)) {
      results[scenario] = { '(no result)': 'FAILURE' };
      continue;
    }
    const checks = JSON.parse(readFileSync(file, 'utf8')) as { id: string; status: string }[];
    results[scenario] = Object.fromEntries(checks.map((check) => [check.id, check.status]));
  }
  return results;
}

/** The same results, but for the named differences (which must then be exactly as named). */
function assertTransparent(direct: Results, gateway: Results): void {
  assert.deepEqual(Object.keys(gateway).sort(), Object.keys(direct).sort(), 'the same scenarios');
  const differences: string[] = [];
  for (const [scenario, checks] of Object.entries(direct)) {
    const through = gateway[scenario] ?? {};
    const ids = new Set([...Object.keys(checks), ...Object.keys(through)]);
    for (const check of ids) {
      const before = checks[check];
      const after = through[check];
      if (before === after) continue;
      const allowed = ALLOWED.some(
        (difference) =>
          difference.scenario === scenario &&
          difference.check === check &&
          difference.direct === before &&
          difference.gateway === after,
      );
      if (!allowed)
        differences.push(`${scenario} / ${check}: directly ${before}, through ${after}`);
    }
  }
  assert.deepEqual(differences, [], 'no difference but the named ones');
  assert.equal(
    gateway['dns-rebinding-protection']?.['localhost-host-rebinding-rejected'],
    'SUCCESS',
    'the gateway rejects a rebinding Host',
  );
}

const policy = {
  tool_scopes: { '*': 'mcp:all' },
  method_scopes: {
    resources: 'mcp:all',
    prompts: 'mcp:all',
    completion: 'mcp:all',
    listen: 'mcp:all',
  },
};

describe('proxy transparency with the MCP conformance server suite, by revision', () => {
  let modern: ModernUpstream;
  let everything: ChildServer;
  let overModern: TestGateway;
  let overHttp: TestGateway;
  let overStdio: TestGateway;
  let direct2025: Results;

  before(async () => {
    modern = await startModernUpstream();
    everything = await startEverythingHttp();
    const gateway = (upstream: Record<string, unknown>) =>
      startTestGateway(
        gatewayDocument({ auth: 'none', allowedScopes: ['mcp:all'], upstreams: [upstream] }),
      );
    overModern = await gateway(httpUpstream(modern.url, policy));
    overHttp = await gateway(httpUpstream(everything.url, policy));
    overStdio = await gateway({
      name: 'everything',
      path: '/mcp',
      command: process.execPath,
      args: [EVERYTHING_ENTRY, 'stdio'],
      ...policy,
    });
    direct2025 = await runConformance(everything.url, '2025-11-25');
  });

  after(async () => {
    await overModern?.close();
    await overHttp?.close();
    await overStdio?.close();
    await modern?.close();
    await everything?.stop();
  });

  it('ran a meaningful 2025-11-25 suite directly (positive control)', () => {
    assert.ok(Object.keys(direct2025).length >= 25, Object.keys(direct2025).join(', '));
    assert.equal(direct2025['tools-list']?.['tools-list'], 'SUCCESS');
    assert.equal(direct2025.ping?.ping, 'SUCCESS');
  });

  it('2025-11-25: the same per-scenario results through the gateway to the HTTP upstream', async () => {
    assertTransparent(direct2025, await runConformance(overHttp.url(), '2025-11-25'));
  });

  it('2025-11-25: the same per-scenario results through the gateway to the same server over stdio', async () => {
    assertTransparent(direct2025, await runConformance(overStdio.url(), '2025-11-25'));
  });

  it('2026-07-28: the same per-scenario results through the gateway to a 2026-07-28-only upstream', async () => {
    const direct = await runConformance(modern.url, '2026-07-28');
    assert.ok(Object.keys(direct).length >= 20, Object.keys(direct).join(', '));
    assert.equal(direct['server-stateless'] === undefined, false, 'the stateless scenario ran');
    assertTransparent(direct, await runConformance(overModern.url(), '2026-07-28'));
  });
});
