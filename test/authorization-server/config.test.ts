/** The configuration keys and rules the authorization server added. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfigText } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { baseDocument, CONFIDENTIAL_SECRET, type Document } from './harness.ts';

const load = (edit: (document: Document) => void) => {
  const document = baseDocument(8080);
  edit(document);
  return loadConfigText(stringify(document), {
    env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET },
  });
};

const issuesOf = (edit: (document: Document) => void): string[] => {
  try {
    load(edit);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
};

describe('authorization_server config', () => {
  it('defaults: ES256, 10 s grace, 90-day family, 900 s access tokens', () => {
    const { config } = load(() => undefined);
    const as = config.authorization_server;
    assert.equal(as.signing_algorithm, 'ES256');
    assert.equal(as.refresh_token_reuse_grace_seconds, 10);
    assert.equal(as.refresh_token_max_lifetime_seconds, 7_776_000);
    assert.equal(as.access_token_ttl_seconds, 900);
    assert.equal(as.refresh_token_ttl_seconds, 2_592_000);
  });

  const refusals: [string, (document: Document) => void, RegExp][] = [
    [
      'a plain-http issuer on a public host',
      (d) => {
        d.authorization_server.issuer = 'http://auth.example.com';
      },
      /^authorization_server\.issuer: must be https unless its host is loopback/,
    ],
    [
      'an issuer with a query',
      (d) => {
        d.authorization_server.issuer = 'https://auth.example.com/?tenant=1';
      },
      /^authorization_server\.issuer: must not have a query/,
    ],
    [
      'a grace window over 60 s',
      (d) => {
        d.authorization_server.refresh_token_reuse_grace_seconds = 61;
      },
      /^authorization_server\.refresh_token_reuse_grace_seconds/,
    ],
    [
      'an unknown signing algorithm',
      (d) => {
        d.authorization_server.signing_algorithm = 'HS256';
      },
      /^authorization_server\.signing_algorithm/,
    ],
  ];
  for (const [name, edit, expected] of refusals) {
    it(`refuses ${name}`, () => {
      const issues = issuesOf(edit);
      assert.ok(
        issues.some((issue) => expected.test(issue)),
        issues.join('\n'),
      );
    });
  }

  it('positive control: an https issuer with a path is fine', () => {
    const { derived } = load((d) => {
      d.authorization_server.issuer = 'https://auth.example.com/tenant';
    });
    assert.equal(derived.authorizationServerIssuer, 'https://auth.example.com/tenant');
  });
});
