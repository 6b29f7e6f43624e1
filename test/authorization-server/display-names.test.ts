/**
 * A client's name is its own claim (RFC 7591 §2). One stored before registration refused
 * reordering and invisible characters, or read from a metadata document, still reaches the
 * pages: every page that shows it (login, consent, account, admin) shows those characters
 * neutralized, so the name reads as what it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientOverview } from '../../src/authorization-server/operator.ts';
import type { Branding } from '../../src/authorization-server/settings.ts';
import { adminPage } from '../../src/authorization-server/views/admin.ts';
import {
  type ApplicationView,
  accountPage,
  consentPage,
  loginPage,
} from '../../src/authorization-server/views/pages.ts';

const BRANDING: Branding = {
  displayName: 'Acme',
  logoUrl: undefined,
  accentColor: undefined,
  scopeDescriptions: {},
};

function pages(name: string): [string, string][] {
  const application: ApplicationView = { clientId: 'dyn_x', name, verification: 'unverified' };
  const client: ClientOverview = {
    clientId: 'dyn_x',
    kind: 'dynamic',
    name,
    verification: 'unverified',
    redirectUris: ['https://app.example/cb'],
    createdAt: 1,
    lastUsedAt: undefined,
    disabledAt: undefined,
    liveGrants: 1,
  };
  return [
    [
      'login',
      loginPage({ branding: BRANDING, action: '/l', interactionId: 'i', csrf: 'c', application })
        .body,
    ],
    [
      'consent',
      consentPage({
        branding: BRANDING,
        action: '/c',
        accountPath: '/a',
        interactionId: 'i',
        csrf: 'c',
        application,
        redirectHost: 'app.example',
        localhostRedirect: false,
        resource: 'https://gw.example/mcp',
        scopes: [],
        lifetimes: { accessTokenMs: 1, refreshTokenMs: 1, refreshMaxMs: 1, refreshes: false },
        subject: 'alice',
        formTargets: [],
      }).body,
    ],
    [
      'account',
      accountPage({
        branding: BRANDING,
        action: '/a',
        csrf: 'c',
        subject: 'alice',
        entries: [
          {
            application,
            scopes: [],
            resources: [],
            firstUsedAt: 1,
            lastUsedAt: 1,
            liveGrants: 1,
          },
        ],
      }).body,
    ],
    [
      'admin',
      adminPage({
        branding: BRANDING,
        action: '/admin',
        accountPath: '/a',
        csrf: 'c',
        subject: 'root',
        clients: [client],
        users: [],
        grants: [],
        keys: [],
        now: 2,
        audit: undefined,
        auditFilter: '',
      }).body,
    ],
  ];
}

describe('client names are shown with reordering and invisible characters neutralized', () => {
  const deceptive: [string, string, string][] = [
    ['right-to-left override', 'Safe \u202Egnp.exe', 'Safe \uFFFDgnp.exe'],
    ['isolate', 'Bank \u2067Evil\u2069', 'Bank \uFFFDEvil\uFFFD'],
    ['zero-width space', 'Go\u200Bogle', 'Go\uFFFDogle'],
    ['escape (terminal control)', 'Claude\u001B[2J', 'Claude\uFFFD[2J'],
  ];
  for (const [what, name, shown] of deceptive) {
    for (const [page, body] of pages(name)) {
      it(`${what} on the ${page} page`, () => {
        assert.ok(body.includes(shown), `${page} shows ${JSON.stringify(shown)}`);
        assert.equal(body.includes(name), false, `${page} does not show the raw name`);
      });
    }
  }

  it('positive control: letters of any script and accents are shown as they are', () => {
    const name = 'Café Müller — 日本語 עברית';
    for (const [page, body] of pages(name)) assert.ok(body.includes(name), page);
  });
});
