import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answeredId, ResponseTracker } from '../../src/mcp/index.ts';

/* The one rule for "which upstream message answers which tracked request", shared by the
 * Streamable HTTP upstream (JSON and SSE answers), the stdio upstream and the stdio front. */

describe('answeredId', () => {
  const cases: [string, unknown, string | number | undefined][] = [
    ['a server request (has a method)', { jsonrpc: '2.0', id: 1, method: 'sampling/x' }, undefined],
    ['a notification', { jsonrpc: '2.0', method: 'notifications/progress' }, undefined],
    ['id null', { jsonrpc: '2.0', id: null, error: { code: -1 } }, undefined],
    ['an object id', { jsonrpc: '2.0', id: { a: 1 }, result: {} }, undefined],
    ['not an object', [1, 2], undefined],
    // Malformed answers still belong to their id, so they cannot slip past a filter.
    ['both result and error', { jsonrpc: '2.0', id: 7, result: {}, error: {} }, 7],
    ['neither result nor error', { jsonrpc: '2.0', id: 's' }, 's'],
    ['positive control: a result', { jsonrpc: '2.0', id: 3, result: {} }, 3],
    ['positive control: an error', { jsonrpc: '2.0', id: '3', error: { code: 1 } }, '3'],
  ];
  for (const [name, message, expected] of cases) {
    test(name, () => assert.equal(answeredId(message), expected));
  }
});

describe('ResponseTracker', () => {
  test('1 and "1" are different requests; an answer is taken once', () => {
    const tracker = new ResponseTracker<string>();
    tracker.track(1, 'number');
    tracker.track('1', 'string');
    assert.equal(tracker.takeAnswer({ id: '1', result: {} })?.entry, 'string');
    assert.equal(tracker.takeAnswer({ id: '1', result: {} }), undefined);
    assert.equal(tracker.takeAnswerText('{"id":1,"result":{}}')?.entry, 'number');
    assert.equal(tracker.size, 0);
  });

  test('a server request with a tracked id is not an answer; text that is not JSON answers nothing', () => {
    const tracker = new ResponseTracker<string>();
    tracker.track(5, 'filter');
    assert.equal(tracker.takeAnswer({ id: 5, method: 'roots/list' }), undefined);
    assert.equal(tracker.takeAnswerText('{"id":5,'), undefined);
    assert.equal(tracker.takeAnswerText('{"id":5,"result":{"tools":[]}}')?.entry, 'filter');
  });

  test('bounded: tracking past the limit forgets the oldest', () => {
    const tracker = new ResponseTracker<number>({ maxTracked: 2 });
    tracker.track(1, 1);
    tracker.track(2, 2);
    tracker.track(3, 3);
    assert.equal(tracker.has(1), false);
    assert.deepEqual([...tracker.values()], [2, 3]);
  });

  test('untrack with an entry leaves a newer entry for the same id alone', () => {
    const tracker = new ResponseTracker<{ n: number }>();
    const old = { n: 1 };
    const fresh = { n: 2 };
    tracker.track(9, old);
    tracker.track(9, fresh);
    assert.equal(tracker.untrack(9, old), false);
    assert.equal(tracker.get(9), fresh);
    assert.equal(tracker.untrack(9, fresh), true);
    assert.equal(tracker.size, 0);
  });
});
