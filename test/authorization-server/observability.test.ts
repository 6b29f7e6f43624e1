/**
 * What the authorization server leaves behind: a hash-chained audit trail of its decisions and
 * structured logs, neither holding a token, code, secret or password.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { AuditSink, FileAuditBackend, verifyAuditTrail } from '../../src/audit/index.ts';
import {
  createAuthorizationServer,
  setUserPassword,
} from '../../src/authorization-server/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/log.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { HMAC_SECRET, tempDir } from '../helpers/cli.ts';
import { serveWeb } from '../helpers/web-server.ts';
import { Browser, baseDocument, CONFIDENTIAL_SECRET, newPkce, PASSWORD } from './harness.ts';

describe('audit trail and logs of a full flow', () => {
  it('records the decisions in a verifiable chain, and no credential anywhere', async () => {
    const auditPath = join(tempDir(), 'audit.jsonl');
    const sink = new AuditSink(new FileAuditBackend(auditPath, 1_000_000));
    const logLines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: {
        write: (line: string) => {
          logLines.push(line);
        },
      },
    });
    let target: Awaited<ReturnType<typeof createAuthorizationServer>> | undefined;
    const server = await serveWeb((request, context) => target?.handle(request, context));
    const store = new MemoryStore();
    try {
      const loaded = loadConfigText(stringify(baseDocument(server.port)), {
        env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET },
      });
      target = await createAuthorizationServer(loaded, { store, audit: sink, logger });
      await setUserPassword(store, 'alice', PASSWORD, Date.now());
      const browser = new Browser(server.url);
      const pkce = newPkce();
      const redirect = 'http://127.0.0.1:4567/cb';
      const first = await browser.get(
        `/oauth/authorize?${new URLSearchParams({
          response_type: 'code',
          client_id: 'pre-public',
          redirect_uri: redirect,
          code_challenge: pkce.challenge,
          code_challenge_method: 'S256',
          resource: `${server.url}/mcp`,
        }).toString()}`,
      );
      const landed = await browser.completeFlow(first, 'alice', PASSWORD, 'allow');
      const code = landed.searchParams.get('code') ?? '';
      const form = (fields: Record<string, string>) =>
        fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(fields),
        }).then((response) => response.json() as Promise<Record<string, string>>);
      const tokens = await form({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirect,
        code_verifier: pkce.verifier,
        client_id: 'pre-public',
      });
      await form({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirect,
        code_verifier: pkce.verifier,
        client_id: 'pre-public',
      });
      await browser.postForm('/oauth/login', { username: 'alice', password: 'wrong' });

      await sink.flush();
      const trail = readFileSync(auditPath, 'utf8');
      const events = trail
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).event as string);
      for (const expected of [
        'oauth.login.succeeded',
        'oauth.authorization.granted',
        'oauth.token.issued',
        'oauth.code.replayed',
        'oauth.token.refused',
      ]) {
        assert.ok(events.includes(expected), `${expected} in ${events.join(', ')}`);
      }
      const issued = trail.split('\n').find((line) => line.includes('"oauth.token.issued"')) ?? '';
      assert.match(issued, /"token_id_hash":"[0-9a-f]{64}"/);
      assert.match(issued, /"grant_type":"authorization_code"/);
      assert.equal(verifyAuditTrail(auditPath).ok, true);

      const everything = trail + logLines.join('');
      for (const secret of [
        tokens.access_token ?? 'missing',
        tokens.refresh_token ?? 'missing',
        code,
        pkce.verifier,
        PASSWORD,
        CONFIDENTIAL_SECRET,
      ]) {
        assert.equal(
          everything.includes(secret),
          false,
          'no credential in the audit trail or logs',
        );
      }
      assert.ok(logLines.some((line) => line.includes('authorization code replayed')));
    } finally {
      await target?.close();
      await sink.close();
      await server.close();
      await store.close();
    }
  });
});
