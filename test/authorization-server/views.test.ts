import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Branding } from '../../src/authorization-server/settings.ts';
import { contrast } from '../../src/authorization-server/views/layout.ts';
import { consentPage, loginPage } from '../../src/authorization-server/views/pages.ts';
import { dateInWords, durationInWords } from '../../src/authorization-server/views/words.ts';

const BRANDING: Branding = {
  displayName: 'Acme <Files>',
  logoUrl: 'https://cdn.acme.example/logo.svg',
  accentColor: '#ffcc00',
  scopeDescriptions: { 'files:read': 'Read <your> files' },
};

describe('lifetimes and dates in words', () => {
  const cases: [number, string][] = [
    [900_000, '15 minutes'],
    [60_000, '1 minute'],
    [3_600_000, '1 hour'],
    [2_592_000_000, '30 days'],
    [7_776_000_000, '90 days'],
    [5_400_000, '90 minutes'],
    [45_000, '45 seconds'],
    [90_500, 'about 2 minutes'],
    [500, 'less than a second'],
  ];
  for (const [ms, words] of cases) {
    it(`${ms} ms is "${words}"`, () => assert.equal(durationInWords(ms), words));
  }
  it('dates are UTC to the minute; no date is "never"', () => {
    assert.equal(dateInWords(Date.UTC(2026, 11, 4, 21, 44, 37)), '2026-12-04 21:44 UTC');
    assert.equal(dateInWords(undefined), 'never');
  });
});

describe('deployment identity on the pages', () => {
  const login = loginPage({
    branding: BRANDING,
    action: '/oauth/login',
    interactionId: undefined,
    csrf: 'c',
    providers: [{ label: 'Sign in with Example ID', href: '/oauth/idp/start?p=example' }],
  });

  it('names the deployment (escaped) in the header and the title', () => {
    assert.match(login.body, /<span class="brand-name">Acme &lt;Files&gt;<\/span>/);
    assert.match(login.body, /<title>Sign in · Acme &lt;Files&gt;<\/title>/);
  });

  it('shows the logo, allowed by the CSP for its origin only', () => {
    assert.match(login.body, /<img src="https:\/\/cdn\.acme\.example\/logo\.svg" alt=""/);
    assert.match(
      login.headers['content-security-policy'] ?? '',
      /img-src https:\/\/cdn\.acme\.example;/,
    );
  });

  it('lists other ways to sign in as buttons above the form', () => {
    assert.match(
      login.body,
      /<ul class="providers"><li><a href="\/oauth\/idp\/start\?p=example">Sign in with Example ID<\/a><\/li><\/ul>/,
    );
  });

  it('puts readable text on the accent colour (black on yellow) and keeps links readable', () => {
    assert.match(
      login.body,
      /button \{ background: #ffcc00; border-color: #ffcc00; color: #000; \}/,
    );
    assert.ok(contrast('#ffcc00', '#ffffff') < 4.5);
    assert.match(login.body, /a \{ color: #1c1e21; \}/, 'yellow links on white would not read');
    assert.ok(contrast('#6b2c91', '#ffffff') >= 4.5);
  });

  it('the consent page escapes scope descriptions and marks a self-named client unverified', () => {
    const page = consentPage({
      branding: BRANDING,
      action: '/oauth/consent',
      accountPath: '/oauth/account',
      interactionId: 'i',
      csrf: 'c',
      application: { clientId: 'dyn_x', name: 'Totally Official', verification: 'unverified' },
      redirectHost: 'evil.example',
      localhostRedirect: false,
      resource: 'https://gw.example/mcp',
      scopes: ['files:read', 'files:write'],
      lifetimes: {
        accessTokenMs: 900_000,
        refreshTokenMs: 86_400_000,
        refreshMaxMs: 604_800_000,
        refreshes: true,
      },
      subject: 'alice',
      formTargets: [],
    });
    assert.match(page.body, /<li><code>files:read<\/code>: Read &lt;your&gt; files<\/li>/);
    assert.match(page.body, /<li><code>files:write<\/code><\/li>/);
    assert.match(page.body, /class="badge unverified"/);
    assert.match(page.body, /where it sends you back to: <strong>evil\.example<\/strong>/);
    assert.match(page.body, /<strong>15 minutes<\/strong>/);
    assert.match(page.body, /<strong>1 day<\/strong> after its last use/);
    assert.match(page.body, /<strong>7 days<\/strong> in all/);
    assert.match(page.body, /<a href="\/oauth\/account">your account page<\/a>/);
  });
});
