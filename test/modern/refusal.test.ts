import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import {
  GATEWAY_REFUSED,
  isModernMethod,
  methodNotFound,
  renderRefusal,
} from '../../src/mcp/modern/refusal.ts';

describe('refusals on the 2026-07-28 path', () => {
  it('render a policy refusal as a JSON-RPC error keeping status, headers and code', () => {
    const error = new RequestError('AuthMissingScope', 'tool echo needs scope files:read', {
      details: { scope: 'files:read' },
    });
    const rendered = renderRefusal(error, 7, {
      'www-authenticate': 'Bearer error="insufficient_scope"',
    });
    assert.equal(rendered.status, 403);
    assert.equal(rendered.headers['www-authenticate'], 'Bearer error="insufficient_scope"');
    assert.equal(rendered.headers['content-type'], 'application/json');
    const body = JSON.parse(rendered.body);
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.id, 7);
    assert.equal(body.error.code, GATEWAY_REFUSED);
    assert.deepEqual(body.error.data, { error: 'insufficient_scope', code: 'AuthMissingScope' });
  });

  it('render upstream failures as -32603 with Retry-After kept, and hide unexposed messages', () => {
    const rendered = renderRefusal(
      new RequestError('UpstreamUnavailable', 'secret detail', {
        details: { retryAfter: '5' },
        expose: false,
      }),
      'a',
    );
    assert.equal(rendered.status, 503);
    assert.equal(rendered.headers['retry-after'], '5');
    const body = JSON.parse(rendered.body);
    assert.equal(body.error.code, -32603);
    assert.doesNotMatch(body.error.message, /secret/);
  });

  it('answer methods the revision does not define with 404 / -32601', () => {
    for (const method of [
      'ping',
      'initialize',
      'logging/setLevel',
      'resources/subscribe',
      'tasks/list',
    ]) {
      assert.equal(isModernMethod(method), false, method);
    }
    for (const method of ['server/discover', 'subscriptions/listen', 'tools/call', 'tasks/get']) {
      assert.equal(isModernMethod(method), true, method);
    }
    const rendered = methodNotFound(3, 'ping');
    assert.equal(rendered.status, 404);
    assert.equal(JSON.parse(rendered.body).error.code, -32601);
  });
});
