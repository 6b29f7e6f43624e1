/**
 * Property-based fuzzing of what a client sends the gateway's MCP endpoint: the MCP headers
 * (Mcp-Method, Mcp-Name, MCP-Protocol-Version, Mcp-Session-Id, Accept, Content-Type,
 * Last-Event-ID) in any combination, with JSON-RPC bodies valid and not. Every answer is below
 * 500, and whenever the gateway refuses (4xx), the upstream saw nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { INITIALIZE, mcpHeaders, openSession, request } from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { fuzzOptions } from './arbitraries.ts';

/** Header values an HTTP client can send: visible ASCII, spaces and tabs. */
const headerValue = fc.oneof(
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
    maxLength: 80,
  }),
  fc.constantFrom(
    '',
    'tools/call',
    'tools/list',
    'initialize',
    'echo',
    'ECHO',
    'echo ',
    '=?base64?ZWNobw==?=',
    'ZWNobw==',
    '2025-06-18',
    '2026-07-28',
    '1999-01-01',
  ),
);

describe('fuzz: MCP headers and bodies through the gateway', () => {
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  let session: string;

  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
    gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
    );
    session = await openSession(gateway.url());
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const message = fc.oneof(
    fc.constant(INITIALIZE),
    fc
      .record(
        {
          jsonrpc: fc.constantFrom('2.0', '1.0'),
          id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 })),
          method: fc.constantFrom('tools/call', 'tools/list', 'ping', 'resources/read', 'nope'),
          params: fc.oneof(
            fc.record({
              name: headerValue,
              arguments: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
            }),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        },
        { requiredKeys: ['jsonrpc'] },
      )
      .map((value) => JSON.stringify(value)),
    fc.string({ maxLength: 200 }),
  );
  const headers = fc.record(
    {
      'mcp-method': headerValue,
      'mcp-name': headerValue,
      'mcp-protocol-version': headerValue,
      'mcp-session-id': fc.oneof(fc.constant('SESSION'), headerValue),
      accept: fc.oneof(fc.constant('application/json, text/event-stream'), headerValue),
      'content-type': fc.oneof(fc.constant('application/json'), headerValue),
      'last-event-id': headerValue,
    },
    { requiredKeys: [] },
  );

  /** One request; a GET that succeeds is an open stream: its status is read, then it is left. */
  async function send(
    method: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ status: number; text: string }> {
    if (method === 'GET') {
      const response = await fetch(gateway.url(), { headers });
      if (response.status < 400) {
        await response.body?.cancel();
        return { status: response.status, text: '' };
      }
      return { status: response.status, text: await response.text() };
    }
    const reply = await request(gateway.url(), {
      method,
      headers,
      ...(method === 'POST' ? { body } : {}),
    });
    return { status: reply.status, text: reply.body };
  }

  it('every answer is below 500; a refusal reaches no upstream', async () => {
    await fc.assert(
      fc.asyncProperty(
        headers,
        message,
        fc.constantFrom('POST', 'GET', 'DELETE'),
        async (extra, body, method) => {
          const sent = { ...mcpHeaders() } as Record<string, string>;
          for (const [name, value] of Object.entries(extra)) {
            if (value !== undefined) sent[name] = value === 'SESSION' ? session : value;
          }
          const seen = upstream.requests.length;
          const { status, text } = await send(method, sent, body);
          assert.ok(status < 500, `${method} ${JSON.stringify(sent)} ${body}: ${status} ${text}`);
          // A refusal of the gateway's own (a catalogued code) reached no upstream; a 4xx the
          // upstream itself answered is passed through and is not one.
          if (status >= 400 && /"code":"[A-Z][A-Za-z]+"/.test(text)) {
            assert.equal(upstream.requests.length, seen, `refused, yet forwarded: ${text}`);
          }
        },
      ),
      fuzzOptions(120),
    );
  });
});
