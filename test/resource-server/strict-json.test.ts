import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hasDuplicateMembers } from '../../src/lib/strict-json.ts';
import {
  decodeBase64urlStrict,
  isCanonicalBase64url,
  parseStrictJsonObject,
} from '../../src/resource-server/jose-segments.ts';

// Case ids in this file are defined in docs/security-cases.md.
describe('strict JOSE segment decoding (JWT-26, JWT-27, JWT-29)', () => {
  test('JSON produced by JSON.stringify never has duplicate members', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.equal(hasDuplicateMembers(JSON.stringify(value)), false);
      }),
      { numRuns: 1000 },
    );
  });

  test('a repeated member is found at any depth, however it is spelled', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue(), { minKeys: 1 }),
        fc.nat(),
        fc.boolean(),
        fc.integer({ min: 0, max: 3 }),
        (object, pick, escaped, depth) => {
          const keys = Object.keys(object);
          const key = keys[pick % keys.length] ?? '';
          const spelled = escaped
            ? `"${key
                .split('')
                .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
                .join('')}"`
            : JSON.stringify(key);
          let text = `${JSON.stringify(object).slice(0, -1)},${spelled}:null}`;
          for (let level = 0; level < depth; level++) text = `{"level${level}":[${text}]}`;
          assert.equal(hasDuplicateMembers(text), true, text);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('member names inside string values do not count', () => {
    assert.equal(hasDuplicateMembers('{"a":"\\"a\\":1","b":{"a":1}}'), false);
    assert.equal(hasDuplicateMembers('{"a":1,"b":[{"a":1},{"a":2}]}'), false);
  });

  test('canonical base64url agrees with a decode/encode round trip', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
        const segment = chars.join('');
        const roundTrip =
          segment.length % 4 !== 1 &&
          Buffer.from(segment, 'base64url').toString('base64url') === segment;
        assert.equal(isCanonicalBase64url(segment), roundTrip, segment);
        assert.equal(decodeBase64urlStrict(segment) !== undefined, roundTrip, segment);
      }),
      { numRuns: 3000 },
    );
  });

  test('only a JSON object of valid UTF-8 parses', () => {
    assert.deepEqual(parseStrictJsonObject(Buffer.from('{"a":1}')), { a: 1 });
    for (const bad of ['[]', 'null', '1', '"x"', '{', '\ufeff{}', '{"a":1,"a":2}']) {
      assert.equal(parseStrictJsonObject(Buffer.from(bad)), undefined, bad);
    }
    assert.equal(
      parseStrictJsonObject(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])),
      undefined,
    );
  });
});
