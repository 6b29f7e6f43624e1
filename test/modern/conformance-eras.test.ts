import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ChildServer, startEverythingHttp } from '../helpers/child-servers.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

/**
 * Proxy transparency for both eras with the conformance suite that freezes one required set per
 * revision (@modelcontextprotocol/conformance 0.2.x, `server --requirements`): through the
 * gateway (auth: none, loopback) each scenario gives the same result as directly against the
 * same upstream, or passes where the upstream alone does not (the gateway adds DNS-rebinding
 * protection and session bookkeeping); the gateway itself passes dns-rebinding-protection.
 *   2026-07-28 requirements against a 2026-07-28-only upstream;
 *   2025-11-25 requirements against server-everything (a 2025 server).
 */

const PACKAGE = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/conformance/', import.meta.url),
);
const ENTRY = process.env.PORTCULLIS_CONFORMANCE_ENTRY ?? join(PACKAGE, 'dist', 'index.js');
const VERSION = (() => {
  const manifest = process.env.PORTCULLIS_CONFORMANCE_ENTRY
    ? join(process.env.PORTCULLIS_CONFORMANCE_ENTRY, '..', '..', 'package.json')
    : join(PACKAGE, 'package.json');
  if (!existsSync(manifest)) return undefined;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
})();
const SKIP =
  VERSION !== undefined && /^0\.[2-9]\./.test(VERSION)
    ? false
    : `@modelcontextprotocol/conformance ${VERSION ?? '(missing)'} has no --requirements; needs 0.2.0-alpha.12 or later`;

/** scenario → 'ok', or the checks that did not pass. */
type Results = Record<string, string>;

async function runConformance(url: string, revision: string): Promise<Results> {
  const dir = tempDir();
  const child = spawn(
    process.execPath,
    [ENTRY, 'server', '--url', url, '--requirements', revision, '-o', dir, '--timeout', '15000'],
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
      results[scenario] = 'no result';
      continue;
    }
    const checks = JSON.parse(readFileSync(file, 'utf8')) as { id: string; status: string }[];
    const notPassed = checks
      .filter((check) => check.status !== 'SUCCESS' && check.status !== 'INFO')
      .map((check) => `${check.id}:${check.status}`)
      .sort();
    results[scenario] = notPassed.length === 0 ? 'ok' : notPassed.join(',');
  }
  return results;
}

function assertTransparent(direct: Results, via: Results): void {
  assert.deepEqual(Object.keys(via).sort(), Object.keys(direct).sort(), 'the same scenarios ran');
  for (const [scenario, result] of Object.entries(direct)) {
    const through = via[scenario];
    assert.ok(
      through === result || through === 'ok',
      `${scenario}: directly ${result}, through the gateway ${through}`,
    );
  }
  assert.equal(
    via['dns-rebinding-protection'],
    'ok',
    'the gateway passes dns-rebinding-protection',
  );
}

describe('conformance by revision, directly and through the gateway', { skip: SKIP }, () => {
  let modern: ModernUpstream;
  let everything: ChildServer;
  let overModern: TestGateway;
  let overEverything: TestGateway;
  const scopes = ['mcp:all'];
  const policy = {
    tool_scopes: { '*': 'mcp:all' },
    method_scopes: {
      resources: 'mcp:all',
      prompts: 'mcp:all',
      completion: 'mcp:all',
      listen: 'mcp:all',
    },
  };

  before(async () => {
    modern = await startModernUpstream();
    everything = await startEverythingHttp();
    overModern = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        allowedScopes: scopes,
        upstreams: [httpUpstream(modern.url, policy)],
      }),
    );
    overEverything = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        allowedScopes: scopes,
        upstreams: [httpUpstream(everything.url, policy)],
      }),
    );
  });
  after(async () => {
    await overModern?.close();
    await overEverything?.close();
    await modern?.close();
    await everything?.stop();
  });

  it('2026-07-28 requirements: a modern-only upstream, directly and through the gateway', {
    timeout: 600_000,
  }, async () => {
    const direct = await runConformance(modern.url, '2026-07-28');
    const via = await runConformance(overModern.url(), '2026-07-28');
    assertTransparent(direct, via);
  });

  it('2025-11-25 requirements: server-everything, directly and through the gateway', {
    timeout: 600_000,
  }, async () => {
    const direct = await runConformance(everything.url, '2025-11-25');
    const via = await runConformance(overEverything.url(), '2025-11-25');
    assertTransparent(direct, via);
  });
});
