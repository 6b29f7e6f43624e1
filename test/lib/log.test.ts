import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, LOG_REDACTED, logAccess, redactForLog } from '../../src/lib/log.ts';

const TOKEN =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImF1ZCI6Imh0dHBzOi8vZ3cvbWNwIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), output: () => lines.join('') };
}

describe('structured logs redact credentials', () => {
  it('a logged request carrying a token leaves no trace of it', () => {
    const { logger, output } = capture();
    const request = {
      method: 'POST',
      url: `/mcp?access_token=${TOKEN}&x=1`,
      headers: {
        host: 'gw.example.com',
        authorization: `Bearer ${TOKEN}`,
        cookie: `session=${TOKEN}`,
        dpop: TOKEN,
        'x-request-id': '2b1f6c2e-4a8e-4f3b-9a51-3f6f2b7d9c10',
      },
    };
    logger.info({ req: request }, 'request received');
    logger.warn({ err: new Error(`upstream rejected Bearer ${TOKEN}`) }, 'upstream failed');
    logger.info(`free text with ${TOKEN} inside`);
    logger.info({
      nested: { deeper: { refresh_token: 'r-123-secret', client_secret: 'cs-456-secret' } },
    });
    const text = output();
    assert.ok(text.length > 0);
    for (const secret of [TOKEN, 'r-123-secret', 'cs-456-secret', TOKEN.split('.')[1] ?? 'x']) {
      assert.ok(!text.includes(secret), `log contains ${secret.slice(0, 12)}…:\n${text}`);
    }
    // The rest of the request is still there to debug with.
    assert.match(text, /"host":"gw.example.com"/);
    assert.match(text, /2b1f6c2e-4a8e-4f3b-9a51-3f6f2b7d9c10/);
    assert.match(text, /"x=1"|x=1/);
    for (const line of text.trim().split('\n')) JSON.parse(line);
  });

  const cases: { name: string; input: unknown; hidden: string }[] = [
    {
      name: 'authorization header',
      input: { authorization: 'Basic dXNlcjpwYXNz' },
      hidden: 'dXNlcjpwYXNz',
    },
    {
      name: 'proxy-authorization header',
      input: { 'Proxy-Authorization': 'x-secret' },
      hidden: 'x-secret',
    },
    {
      name: 'set-cookie header',
      input: { 'set-cookie': ['sid=abc-secret'] },
      hidden: 'abc-secret',
    },
    { name: 'dpop header', input: { DPoP: 'proof-secret' }, hidden: 'proof-secret' },
    { name: 'password field', input: { user: 'a', password: 'pw-secret' }, hidden: 'pw-secret' },
    {
      name: '*_secret field',
      input: { token_id_hmac_secret: 'hmac-secret' },
      hidden: 'hmac-secret',
    },
    {
      name: 'code in a redirect URI',
      input: { location: 'http://127.0.0.1:1/cb?code=authcode-secret&state=s' },
      hidden: 'authcode-secret',
    },
    { name: 'JWT in an array', input: [`x ${TOKEN}`], hidden: TOKEN },
  ];
  for (const c of cases) {
    it(`redacts ${c.name}`, () => {
      const out = JSON.stringify(redactForLog(c.input));
      assert.ok(!out.includes(c.hidden), out);
      assert.ok(out.includes(LOG_REDACTED), out);
    });
  }
  it('positive control: ordinary fields pass through unchanged', () => {
    const input = {
      method: 'tools/call',
      tool: 'read_file',
      status: 200,
      code: 'AuthMissingScope',
    };
    assert.deepEqual(redactForLog(input), input);
  });

  it('leaves prose about credentials alone: "needs a bearer token" stays readable', () => {
    for (const text of [
      'this resource needs a bearer token',
      'send a Bearer token in the Authorization header',
      'refused: bearer tokens only',
    ]) {
      assert.equal(redactForLog(text), text);
    }
    assert.equal(redactForLog('header was Bearer abc123XYZ'), `header was Bearer ${LOG_REDACTED}`);
    assert.equal(
      redactForLog('Authorization: Basic dXNlcjpwYXNz'),
      `Authorization: Basic ${LOG_REDACTED}`,
    );
  });

  it('names the choices when PORTCULLIS_LOG_LEVEL is not a level', () => {
    assert.throws(
      () => createLogger({ level: 'verbose' }),
      /PORTCULLIS_LOG_LEVEL is "verbose"; fix: set it to one of fatal, error, warn, info, debug, trace, silent/,
    );
  });

  it('access log lines carry method, route, status, duration and client id only', () => {
    const { logger, output } = capture();
    logAccess(logger, {
      server: 'gateway',
      method: 'POST',
      route: '/mcp',
      status: 401,
      durationMs: 1.234,
      clientId: undefined,
      reason: 'AuthTokenMissing',
      requestId: 'r-1',
    });
    const line = JSON.parse(output()) as Record<string, unknown>;
    assert.deepEqual(
      {
        msg: line.msg,
        server: line.server,
        method: line.method,
        route: line.route,
        status: line.status,
        durationMs: line.durationMs,
        reason: line.reason,
        requestId: line.requestId,
      },
      {
        msg: 'request',
        server: 'gateway',
        method: 'POST',
        route: '/mcp',
        status: 401,
        durationMs: 1.2,
        reason: 'AuthTokenMissing',
        requestId: 'r-1',
      },
    );
    assert.equal('clientId' in line, false);
  });
});
