import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import {
  idKey,
  MAX_JSON_DEPTH,
  parseClientMessage,
  parseMessageText,
} from '../../src/mcp/index.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

interface Refused {
  readonly name: string;
  readonly body: Uint8Array | string;
  readonly says: RegExp;
}

const nested = (depth: number) =>
  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":${'['.repeat(depth)}${']'.repeat(depth)}}}`;

/**
 * Bodies the parser must refuse with 400 RequestMalformed, whatever the policy would say. Case
 * ids in parentheses are defined in docs/security-cases.md.
 */
const refused: Refused[] = [
  { name: 'empty body', body: '', says: /empty/ },
  { name: 'not JSON', body: '{"jsonrpc":', says: /not valid JSON/ },
  { name: 'invalid UTF-8', body: new Uint8Array([0x7b, 0xff, 0x7d]), says: /UTF-8/ },
  { name: 'byte order mark', body: '\uFEFF{"jsonrpc":"2.0","method":"ping","id":1}', says: /JSON/ },
  {
    name: 'batch (MCP 2025-06-18 removed batching)',
    body: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
    says: /batches are not accepted/,
  },
  { name: 'JSON string', body: '"ping"', says: /message object/ },
  { name: 'wrong jsonrpc version', body: '{"jsonrpc":"1.0","id":1,"method":"ping"}', says: /2\.0/ },
  {
    name: 'duplicate tool name (first-wins vs last-wins differential)',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","name":"admin_tool"}}',
    says: /"name" appears twice/,
  },
  {
    name: 'duplicate name spelled with an escape',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","\\u006eame":"b"}}',
    says: /appears twice/,
  },
  {
    name: 'duplicate method',
    body: '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}',
    says: /"method" appears twice/,
  },
  { name: 'nesting beyond the cap (SCOPE-10)', body: nested(MAX_JSON_DEPTH + 5), says: /deeper/ },
  {
    name: 'id 1e400 (SCOPE-11)',
    body: '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
    says: /id must/,
  },
  {
    name: 'id 2^53+1 (SCOPE-11)',
    body: '{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}',
    says: /id must/,
  },
  { name: 'id 1.5', body: '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', says: /id must/ },
  {
    name: 'id null on a request',
    body: '{"jsonrpc":"2.0","id":null,"method":"ping"}',
    says: /id must/,
  },
  { name: 'id object', body: '{"jsonrpc":"2.0","id":{},"method":"ping"}', says: /id must/ },
  { name: 'method not a string', body: '{"jsonrpc":"2.0","id":1,"method":7}', says: /method/ },
  {
    name: 'params an array',
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["read_file"]}',
    says: /params must be an object/,
  },
  {
    name: 'request with a result',
    body: '{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}',
    says: /cannot carry/,
  },
  {
    name: 'neither request nor response',
    body: '{"jsonrpc":"2.0","id":1}',
    says: /not a JSON-RPC/,
  },
];

describe('JSON-RPC bodies are parsed once, strictly', () => {
  for (const testCase of refused) {
    it(`refuses: ${testCase.name}`, () => {
      const body = typeof testCase.body === 'string' ? bytes(testCase.body) : testCase.body;
      assert.throws(
        () => parseClientMessage(body),
        (error) =>
          error instanceof RequestError &&
          error.code === 'RequestMalformed' &&
          error.status === 400 &&
          testCase.says.test(error.message),
      );
    });
  }

  it('positive control: request, notification and response parse, and the text is kept', () => {
    const text = '{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"read_file"}}';
    const request = parseClientMessage(bytes(text));
    assert.equal(request.text, text);
    assert.deepEqual(request.message, {
      kind: 'request',
      id: 'a',
      method: 'tools/call',
      params: { name: 'read_file' },
    });
    assert.equal(
      parseMessageText('{"jsonrpc":"2.0","method":"notifications/initialized"}').message.kind,
      'notification',
    );
    const response = parseMessageText('{"jsonrpc":"2.0","id":5,"result":{}}').message;
    assert.equal(response.kind, 'response');
    assert.equal(parseClientMessage(bytes(nested(MAX_JSON_DEPTH - 5))).message.kind, 'request');
  });

  it('keeps "__proto__" as plain data (SCOPE-09)', () => {
    const parsed = parseMessageText(
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","__proto__":{"polluted":true}}}',
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(
      parsed.message.kind === 'request' && Object.hasOwn(parsed.message.params ?? {}, '__proto__'),
    );
  });

  it('tells numeric and string ids apart', () => {
    assert.notEqual(idKey(1), idKey('1'));
  });
});
