import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import { MemoryRateLimiter, normalizeRequestPath } from '../../src/proxy/index.ts';
import { encodeSseEvent, parseSseEvent, SseSplitter } from '../../src/proxy/sse.ts';

// Case ids in this file are defined in docs/security-cases.md.
describe('one normalization of the request path (HT-19)', () => {
  const refused = [
    ['double slash', '//mcp'],
    ['double slash inside', '/mcp//x'],
    ['dot segment', '/./mcp'],
    ['dot-dot segment', '/x/../mcp'],
    ['encoded dot', '/%2e/mcp'],
    ['encoded dot-dot', '/x/%2E%2E/mcp'],
    ['encoded slash', '/mcp%2F..'],
    ['any percent-encoding', '/m%63p'],
    ['backslash', '/mcp\\..'],
    ['absolute-form', 'http://evil.example/mcp'],
    ['asterisk-form', '*'],
  ];
  for (const [name, target] of refused) {
    it(`refuses ${name}: ${target}`, () => {
      assert.throws(
        () => normalizeRequestPath(target as string),
        (error) => error instanceof RequestError && error.code === 'RequestMalformed',
      );
    });
  }
  it('positive control: plain paths pass unchanged; the query is dropped', () => {
    assert.equal(normalizeRequestPath('/mcp'), '/mcp');
    assert.equal(normalizeRequestPath('/mcp/files?access_token=x'), '/mcp/files');
    // Not repaired into a route: these simply match nothing.
    assert.equal(normalizeRequestPath('/mcp/'), '/mcp/');
    assert.equal(normalizeRequestPath('/MCP'), '/MCP');
    assert.equal(normalizeRequestPath('/mcp;x'), '/mcp;x');
  });
});

describe('in-memory rate limiter', () => {
  it('allows max requests per window per key, then refuses with Retry-After', async () => {
    let now = 1_000_000;
    const limiter = new MemoryRateLimiter({ maxRequests: 2, windowSeconds: 60, now: () => now });
    assert.equal((await limiter.consume('a')).allowed, true);
    assert.equal((await limiter.consume('a')).allowed, true);
    const third = await limiter.consume('a');
    assert.equal(third.allowed, false);
    assert.equal(third.retryAfterSeconds, 60);
    assert.equal((await limiter.consume('b')).allowed, true, 'keys are independent');
    now += 59_500;
    assert.equal((await limiter.consume('a')).retryAfterSeconds, 1);
    now += 500;
    assert.equal((await limiter.consume('a')).allowed, true, 'a new window starts');
  });

  it('stays bounded in memory', async () => {
    const limiter = new MemoryRateLimiter({ maxRequests: 1, windowSeconds: 60, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) await limiter.consume(key);
    // "a" was evicted, so it starts a fresh window; "e" is still counted.
    assert.equal((await limiter.consume('a')).allowed, true);
    assert.equal((await limiter.consume('e')).allowed, false);
  });
});

describe('SSE framing', () => {
  it('splits events across chunks and line-ending styles', () => {
    const splitter = new SseSplitter();
    assert.deepEqual(splitter.push('event: message\r\ndata: {"a"'), []);
    assert.deepEqual(splitter.push(':1}\r'), []);
    assert.deepEqual(splitter.push('\n\r\nid: 7\ndata: x\n\n: comment\n\ndata: y\r\r'), [
      'event: message\r\ndata: {"a":1}\r\n\r\n',
      'id: 7\ndata: x\n\n',
      ': comment\n\n',
    ]);
    // A final CR may be half of a CRLF: the event completes when the next byte shows it is not.
    assert.deepEqual(splitter.push('d'), ['data: y\r\r']);
    assert.equal(splitter.pending, 'd');
  });

  it('parses fields and rebuilds events', () => {
    const event = parseSseEvent('id: 7\nevent: message\nretry: 10\ndata: a\ndata:b\n\n');
    assert.deepEqual(event, { id: '7', event: 'message', retry: '10', data: 'a\nb' });
    assert.equal(encodeSseEvent(event), 'event: message\nid: 7\nretry: 10\ndata: a\ndata: b\n\n');
  });
});
