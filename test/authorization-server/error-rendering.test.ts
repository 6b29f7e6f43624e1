/**
 * The authorization server's refusals, each in its endpoint's form through the one renderer:
 * OAuth JSON for clients, an HTML page for people; CORS where browsers call from script; the
 * right challenge on a 401. The table ends with positive controls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONFIDENTIAL_SECRET, createHarness, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

interface Case {
  readonly name: string;
  readonly send: () => Promise<Response>;
  readonly status: number;
  /** The body's `error`, or 'html' for a page, or '' for none. */
  readonly error: string;
  readonly headers?: Readonly<Record<string, string | null | RegExp>>;
}

const form = (fields: Record<string, string>, basic?: [string, string]): RequestInit => ({
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    ...(basic
      ? { authorization: `Basic ${Buffer.from(`${basic[0]}:${basic[1]}`).toString('base64')}` }
      : {}),
  },
  body: new URLSearchParams(fields).toString(),
});

const cases: Case[] = [
  {
    name: 'unknown path under /oauth/: 404 JSON, no CORS',
    send: () => fetch(`${h.url}/oauth/nothing-here`),
    status: 404,
    error: 'route_not_found',
    headers: { 'access-control-allow-origin': null, 'cache-control': 'no-store' },
  },
  {
    name: 'GET on the token endpoint: 405 with Allow, CORS for browser clients',
    send: () => fetch(`${h.url}/oauth/token`),
    status: 405,
    error: 'method_not_allowed',
    headers: { allow: 'POST', 'access-control-allow-origin': '*' },
  },
  {
    name: 'wrong client secret at the token endpoint: 401 invalid_client with a Basic challenge',
    send: () =>
      fetch(
        `${h.url}/oauth/token`,
        form({ grant_type: 'client_credentials', resource: h.resource }, ['machine', 'wrong']),
      ),
    status: 401,
    error: 'invalid_client',
    headers: {
      'www-authenticate': /^Basic realm="/,
      pragma: 'no-cache',
      'access-control-allow-origin': '*',
    },
  },
  {
    name: 'introspection without authentication: 401, no CORS (not for browsers)',
    send: () => fetch(`${h.url}/oauth/introspect`, form({ token: 'x' })),
    status: 401,
    error: 'invalid_client',
    headers: { 'access-control-allow-origin': null, 'www-authenticate': /^Basic / },
  },
  {
    name: 'authorization request from an unknown client: a page, never a redirect (401 shown as 400)',
    send: () =>
      fetch(`${h.url}/oauth/authorize?client_id=nobody&response_type=code`, {
        redirect: 'manual',
      }),
    status: 400,
    error: 'html',
    headers: {
      location: null,
      'www-authenticate': null,
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
    },
  },
  {
    name: 'positive control: client credentials with the right secret',
    send: () =>
      fetch(
        `${h.url}/oauth/token`,
        form({ grant_type: 'client_credentials', resource: h.resource }, [
          'machine',
          CONFIDENTIAL_SECRET,
        ]),
      ),
    status: 200,
    error: '',
    headers: { 'access-control-allow-origin': '*', 'cache-control': 'no-store' },
  },
  {
    name: 'positive control: HEAD on the metadata document has its headers and no body',
    send: () => fetch(`${h.url}/.well-known/oauth-authorization-server`, { method: 'HEAD' }),
    status: 200,
    error: '',
    headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*' },
  },
];

describe('authorization server refusals, rendered once', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const response = await c.send();
      const text = await response.text();
      assert.equal(response.status, c.status, text);
      if (c.error === 'html') {
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(text, /<code>invalid_client<\/code>/);
      } else if (c.error !== '') {
        const body = JSON.parse(text) as Record<string, unknown>;
        assert.equal(body.error, c.error);
        assert.equal(typeof body.error_description, 'string');
      } else if (c.status === 200 && text !== '') {
        assert.equal(typeof (JSON.parse(text) as Record<string, unknown>).error, 'undefined');
      }
      for (const [name, expected] of Object.entries(c.headers ?? {})) {
        const actual = response.headers.get(name);
        if (expected instanceof RegExp) assert.match(actual ?? '', expected, name);
        else assert.equal(actual, expected, name);
      }
    });
  }
});
