import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHarness, type Harness, PASSWORD } from '../authorization-server/harness.ts';
import { launchChromium, SKIP_WITHOUT_CHROMIUM } from '../helpers/browser-oauth.ts';
import { tempDir } from '../helpers/cli.ts';
import { type Check, REPO_ROOT, readChecks } from './run-scenarios.ts';

/**
 * @modelcontextprotocol/conformance 0.2.0-alpha.12 in authorization mode against the co-located
 * authorization server: `authorization-server-metadata-endpoint` and `authorization-code-grant`.
 * The code grant prints an authorization URL for a person; here Chromium (Debian's, driven by
 * playwright-core) opens it, signs in and consents, and the suite's own loopback callback gets
 * the code. Both scenarios must pass with no warning.
 */

const RUNNER = `${REPO_ROOT}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
const CLIENT_ID = 'conformance-suite';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('MCP conformance 0.2.0-alpha.12, authorization mode, co-located authorization server', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let h: Harness;
  let checks: Check[] = [];
  const byScenario = new Map<string, Check[]>();
  let output = '';

  before(async () => {
    h = await createHarness({
      edit: (document) => {
        const server = document.authorization_server as { clients: object[] };
        // A public client for the suite; loopback redirects may use any port (RFC 8252 §7.3).
        server.clients.push({
          client_id: CLIENT_ID,
          client_name: 'MCP conformance suite',
          redirect_uris: ['http://127.0.0.1/callback'],
          scope: ['files:read'],
        });
      },
    });
    // Real time: the browser and the suite's token request run on the wall clock.
    h.clock.now = Date.now();
    const port = await freePort();
    const out = tempDir();
    const child = spawn(
      process.execPath,
      [
        RUNNER,
        'authorization',
        '--url',
        h.issuer,
        '--client-id',
        CLIENT_ID,
        '--resource',
        h.resource,
        '-p',
        String(port),
        '-o',
        out,
      ],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1' } },
    );
    const exited = new Promise<number>((resolve) =>
      child.once('close', (code) => resolve(code ?? -1)),
    );
    const authorizationUrl = await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = output.match(/^(http\S+\/oauth\/authorize\?\S+)$/m);
        if (match?.[1]) resolve(match[1]);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      void exited.then(() => reject(new Error(`the suite ended before asking:\n${output}`)));
    });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(authorizationUrl);
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/oauth\/consent\?/);
      await Promise.all([
        page.waitForURL(`http://127.0.0.1:${port}/callback?**`),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
    } finally {
      await browser.close();
    }
    const code = await exited;
    output += `\n(exit ${code})`;
    for (const entry of readdirSync(out)) {
      const scenario = entry
        .replace(/^authorization-server-/, '')
        .replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
      byScenario.set(scenario, readChecks(join(out, entry)));
    }
    checks = [...byScenario.values()].flat();
    const table = [...byScenario]
      .map(
        ([scenario, own]) =>
          `  ${own.every((c) => c.status === 'SUCCESS') ? 'PASS' : 'FAIL'}  ${scenario}: ${own.map((c) => `${c.id} ${c.status}`).join(', ')}`,
      )
      .join('\n');
    console.log(`MCP conformance 0.2.0-alpha.12, authorization mode:\n${table}`);
  });
  after(async () => h?.close());

  for (const scenario of ['authorization-server-metadata-endpoint', 'authorization-code-grant']) {
    it(`${scenario} passes`, () => {
      const own = byScenario.get(scenario) ?? [];
      assert.ok(own.length > 0, `${scenario} ran:\n${output}`);
      assert.ok(
        own.every((check) => check.status === 'SUCCESS'),
        JSON.stringify(own, null, 2),
      );
    });
  }

  it('no check failed or warned', () => {
    const bad = checks.filter((check) => check.status === 'FAILURE' || check.status === 'WARNING');
    assert.deepEqual(bad, [], output);
    assert.ok(checks.length >= 2);
  });
});
