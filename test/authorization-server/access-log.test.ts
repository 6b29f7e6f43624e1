/**
 * The authorization server's access log: one line per request in the gateway's shape (method,
 * route, status, duration, client id), never a token, code or password, never a query string;
 * and debug lines that say which step of which endpoint answered or refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import {
  createAuthorizationServer,
  setUserPassword,
} from '../../src/authorization-server/index.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/log.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { HMAC_SECRET } from '../helpers/cli.ts';
import { serveWeb } from '../helpers/web-server.ts';
import { Browser, baseDocument, CONFIDENTIAL_SECRET, newPkce, PASSWORD } from './harness.ts';

describe('authorization server access log', () => {
  it('logs every request like the gateway does, and no credential', async () => {
    const lines: Record<string, unknown>[] = [];
    const raw: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: {
        write: (line: string) => {
          raw.push(line);
          lines.push(JSON.parse(line) as Record<string, unknown>);
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
      target = await createAuthorizationServer(loaded, { store, logger });
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
      const token = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirect,
          code_verifier: pkce.verifier,
          client_id: 'pre-public',
        }),
      });
      const tokens = (await token.json()) as Record<string, string>;
      assert.equal(token.status, 200);

      const access = lines.filter((line) => line.msg === 'request');
      const at = (route: string) => access.filter((line) => line.route === route);
      const authorize = at('/oauth/authorize')[0];
      assert.ok(authorize, JSON.stringify(access));
      assert.equal(authorize.server, 'authorization-server');
      assert.equal(authorize.method, 'GET');
      assert.equal(authorize.status, 303);
      assert.equal(authorize.clientId, undefined, 'no audit names a client before sign-in');
      assert.equal(typeof authorize.durationMs, 'number');
      const tokenLine = at('/oauth/token')[0];
      assert.deepEqual(
        { method: tokenLine?.method, status: tokenLine?.status, clientId: tokenLine?.clientId },
        { method: 'POST', status: 200, clientId: 'pre-public' },
      );
      assert.ok(at('/oauth/login').some((line) => line.method === 'POST' && line.status === 303));
      assert.ok(at('/oauth/consent').some((line) => line.clientId === 'pre-public'));
      // Debug lines name the endpoint and the step that answered.
      assert.ok(
        lines.some(
          (line) =>
            line.msg === 'answered' && line.endpoint === 'token endpoint' && line.level === 'debug',
        ),
        'a debug line for the token endpoint',
      );

      const everything = raw.join('');
      assert.doesNotMatch(everything, /code_challenge|redirect_uri=/, 'no query strings');
      for (const secret of [
        tokens.access_token,
        tokens.refresh_token,
        code,
        pkce.verifier,
        PASSWORD,
      ]) {
        assert.equal(everything.includes(secret ?? 'missing'), false, 'no credential in the log');
      }
    } finally {
      await target?.close();
      await server.close();
      await store.close();
    }
  });
});
