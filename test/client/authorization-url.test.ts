import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkAuthorizationEndpoint } from '../../src/client/index.ts';
import { isClientError } from '../../src/errors/index.ts';
import { spawnCliAsync, tempDir } from '../helpers/cli.ts';
import { type OAuthFixture, startOAuthFixture } from '../helpers/oauth-fixture.ts';

const strict = { allowLoopbackHttp: false };
const dev = { allowLoopbackHttp: true };

describe('authorization endpoint validation (MCP security best practices, CVE-2025-6514)', () => {
  const refused: [string, string][] = [
    ['javascript: scheme', 'javascript:alert(document.domain)//https://as.example/authorize'],
    ['file: scheme', 'file:///etc/passwd'],
    ['data: scheme', 'data:text/html,<script>alert(1)</script>'],
    ['vbscript: scheme', 'vbscript:msgbox(1)'],
    ['custom scheme', 'ms-settings:privacy'],
    ['command substitution', 'https://as.example/authorize$(touch /tmp/pwned)'],
    ['backticks', 'https://as.example/`id`'],
    ['semicolon', 'https://as.example/authorize;calc.exe'],
    ['pipe', 'https://as.example/authorize|calc'],
    ['ampersand outside the query', 'https://as.example/a&calc'],
    ['quote', 'https://as.example/a"b'],
    ['space', 'https://as.example/a b'],
    ['newline', 'https://as.example/a\nb'],
    ['credentials', 'https://user:pass@as.example/authorize'],
    ['fragment', 'https://as.example/authorize#x'],
    ['plain http to a public host', 'http://as.example/authorize'],
    ['plain http to loopback without the development switch', 'http://127.0.0.1:9/authorize'],
    ['not a URL', 'authorize'],
  ];
  for (const [name, endpoint] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => checkAuthorizationEndpoint(endpoint, strict),
        (error) => isClientError(error) && error.code === 'ClientUnsafeAuthorizationUrl',
      );
    });
  }
  it('positive controls: https, https with a query (& allowed there), loopback http in development', () => {
    assert.equal(
      checkAuthorizationEndpoint('https://as.example/authorize', strict).href,
      'https://as.example/authorize',
    );
    assert.ok(
      checkAuthorizationEndpoint('https://as.example/oauth2/v2.0/authorize?p=b2c_1&x=y', strict),
    );
    assert.ok(checkAuthorizationEndpoint('http://127.0.0.1:9/authorize', dev));
    assert.ok(checkAuthorizationEndpoint('http://localhost:9/authorize', dev));
  });
});

describe('login never starts a process for an unsafe authorization endpoint', () => {
  let bin: string;
  let marker: string;
  before(() => {
    // A stand-in for the platform opener: records its argv, then acts as a browser would.
    bin = tempDir();
    marker = join(bin, 'opened.json');
    const script = join(bin, 'xdg-open');
    writeFileSync(
      script,
      `#!${process.execPath}
const { writeFileSync } = require('node:fs');
writeFileSync(${JSON.stringify(marker)}, JSON.stringify(process.argv.slice(2)));
(async () => {
  let url = process.argv[2];
  for (let i = 0; i < 5; i++) {
    const res = await fetch(url, { redirect: 'manual' });
    const next = res.headers.get('location');
    if (!next) return;
    url = new URL(next, url).href;
  }
})();
`,
    );
    chmodSync(script, 0o755);
  });

  const login = (fixture: OAuthFixture) =>
    spawnCliAsync(['login', fixture.mcpUrl, '--open', 'browser', '--token-store', tempDir()], {
      PATH: `${bin}:${process.env.PATH}`,
    });

  const cases: [string, (port: string) => string][] = [
    ['javascript:', () => 'javascript:alert(1)'],
    ['file:', () => 'file:///etc/passwd'],
    ['shell metacharacters', (issuer) => `${issuer}/authorize;touch$IFS/tmp/pwned`],
    ['command substitution', (issuer) => `${issuer}/authorize$(id)`],
  ];
  for (const [name, endpoint] of cases) {
    it(`refuses ${name}: exit 1, ClientUnsafeAuthorizationUrl, no registration, no process`, async () => {
      const probe = await startOAuthFixture();
      const issuer = probe.issuer;
      await probe.stop();
      const fixture = await startOAuthFixture({ authorizationEndpoint: endpoint(issuer) });
      try {
        const result = await login(fixture);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /ClientUnsafeAuthorizationUrl/);
        assert.equal(fixture.counts.register, 0, 'refused before registration');
        assert.equal(fixture.counts.authorize, 0);
        assert.equal(existsSync(marker), false, 'the opener was never started');
      } finally {
        await fixture.stop();
      }
    });
  }

  it('positive control: a safe endpoint starts the opener once, the URL as its only argument', async () => {
    const fixture = await startOAuthFixture();
    try {
      const result = await login(fixture);
      assert.equal(result.code, 0, result.stderr);
      const argv = JSON.parse(readFileSync(marker, 'utf8')) as string[];
      assert.equal(argv.length, 1);
      assert.ok(argv[0]?.startsWith(`${fixture.issuer}/authorize?`));
      assert.equal(fixture.counts.authorize, 1);
    } finally {
      await fixture.stop();
    }
  });
  after(() => undefined);
});
