import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type OpenFailure, RequestStateSealer } from '../../src/mcp/modern/request-state.ts';

const key = randomBytes(32);
const start = new Date('2026-12-04T12:00:00Z');
let clock = start;
const sealer = new RequestStateSealer({ key, ttlSeconds: 120, now: () => clock });

const binding = {
  subject: 'alice',
  upstream: 'everything',
  method: 'tools/call',
  params: { name: 'trigger-elicitation', arguments: { x: 1, y: [1, 2] } },
};

function flip(token: string, index: number): string {
  const chars = [...token];
  chars[index] = chars[index] === 'A' ? 'B' : 'A';
  return chars.join('');
}

describe('requestState sealing', () => {
  it('refuses what it must refuse, then opens a genuine state (positive control last)', async () => {
    clock = start;
    const token = await sealer.seal(binding, { pending: 'n:4', key: 'elicit-1' });
    const ciphertextIndex = token.split('.').slice(0, 3).join('.').length + 5;
    const other = new RequestStateSealer({
      key: randomBytes(32),
      ttlSeconds: 120,
      now: () => clock,
    });
    const foreignKey = await other.seal(binding, { pending: 'n:4' });
    const cases: [string, () => Promise<unknown>, OpenFailure][] = [
      ['not a string', () => sealer.open(42, binding), 'malformed'],
      ['empty', () => sealer.open('', binding), 'malformed'],
      ['garbage', () => sealer.open('a.b.c.d.e', binding), 'malformed'],
      ['ciphertext flipped', () => sealer.open(flip(token, ciphertextIndex), binding), 'tampered'],
      ['tag flipped', () => sealer.open(flip(token, token.length - 3), binding), 'tampered'],
      ['sealed by another key', () => sealer.open(foreignKey, binding), 'tampered'],
      [
        'another subject',
        () => sealer.open(token, { ...binding, subject: 'mallory' }),
        'foreign-subject',
      ],
      [
        'another upstream',
        () => sealer.open(token, { ...binding, upstream: 'files' }),
        'foreign-upstream',
      ],
      [
        'another tool',
        () => sealer.open(token, { ...binding, params: { ...binding.params, name: 'rm' } }),
        'other-request',
      ],
      [
        'other arguments',
        () =>
          sealer.open(token, {
            ...binding,
            params: { name: 'trigger-elicitation', arguments: { x: 2, y: [1, 2] } },
          }),
        'other-request',
      ],
      [
        'another method',
        () => sealer.open(token, { ...binding, method: 'prompts/get' }),
        'other-request',
      ],
      [
        'expired',
        async () => {
          clock = new Date(start.getTime() + 121_000);
          try {
            return await sealer.open(token, binding);
          } finally {
            clock = start;
          }
        },
        'expired',
      ],
    ];
    for (const [name, attempt, reason] of cases) {
      assert.deepEqual(await attempt(), { ok: false, reason }, name);
    }
    // Positive control: same request, key order and retry fields do not matter.
    const retried = {
      ...binding,
      params: {
        arguments: { y: [1, 2], x: 1 },
        name: 'trigger-elicitation',
        _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' },
        inputResponses: { 'elicit-1': { action: 'accept' } },
        requestState: token,
      },
    };
    assert.deepEqual(await sealer.open(token, retried), {
      ok: true,
      state: { pending: 'n:4', key: 'elicit-1' },
    });
  });

  it('keeps the state confidential (AEAD, not a signed plaintext)', async () => {
    const token = await sealer.seal(binding, { secret: 'upstream-detail' });
    assert.equal(token.split('.').length, 5);
    assert.ok(
      !Buffer.from(token.replaceAll('.', ''), 'base64url')
        .toString('latin1')
        .includes('upstream-detail'),
    );
  });

  it('refuses a key of the wrong size', () => {
    assert.throws(
      () => new RequestStateSealer({ key: randomBytes(16), ttlSeconds: 60 }),
      RangeError,
    );
  });
});
