import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseStrictJson, StrictJsonError } from '../../src/lib/strict-json.ts';

/* The one strict JSON parser that MCP bodies, JOSE segments, introspection answers and client
 * metadata all go through: each refusal names its problem; the table ends with positive controls. */

function problemOf(text: string, maxDepth?: number): string {
  try {
    parseStrictJson(text, maxDepth === undefined ? {} : { maxDepth });
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof StrictJsonError);
    return error.problem;
  }
}

describe('parseStrictJson', () => {
  const cases: [string, string, number | undefined, string][] = [
    ['truncated', '{"a":', undefined, 'syntax'],
    ['trailing comma', '{"a":1,}', undefined, 'syntax'],
    ['a repeated member', '{"a":1,"a":2}', undefined, 'duplicate-member'],
    [
      'a repeated member spelled with an escape',
      '{"a":1,"\\u0061":2}',
      undefined,
      'duplicate-member',
    ],
    [
      'a repeated member deep inside an array',
      '[{"x":[{"b":1,"b":1}]}]',
      undefined,
      'duplicate-member',
    ],
    ['nesting beyond the limit', '[[[[1]]]]', 3, 'too-deep'],
    ['positive control: equal names in sibling objects', '[{"a":1},{"a":2}]', undefined, 'ok'],
    [
      'positive control: a name inside a string value',
      '{"a":"\\"a\\":1","b":{"a":1}}',
      undefined,
      'ok',
    ],
    ['positive control: nesting at the limit', '[[[1]]]', 3, 'ok'],
    ['positive control: a scalar', '"x"', 1, 'ok'],
  ];
  for (const [name, text, maxDepth, expected] of cases) {
    test(`${name}: ${expected}`, () => assert.equal(problemOf(text, maxDepth), expected));
  }

  test('the value is JSON.parse’s, and a repeated name is quoted truncated in the message', () => {
    assert.deepEqual(parseStrictJson('{"a":[1,{"b":null}]}'), { a: [1, { b: null }] });
    assert.throws(
      () => parseStrictJson(`{"${'n'.repeat(100)}":1,"${'n'.repeat(100)}":2}`),
      (error: Error) => error.message === `member name "${'n'.repeat(40)}" appears twice`,
    );
  });
});
