/**
 * Methods nothing here implements and transfer codings the front cannot decode get their
 * precise status (501) before routing, on MCP and authorization-server paths alike, with no
 * error-level log line; the upstream sees nothing. /readyz tells a foreign Host only its status.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { gatewayDocument, httpUpstream, loadTestConfig, memoryLogger } from '../helpers/gateway.ts';
import { rawExchange } from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

describe('front framing: unimplemented methods and transfer codings', () => {
  let gateway: RunningPortcullis;
  let upstream: RecordingUpstream;
  let logs: Record<string, unknown>[];
  let port: number;

  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
    const loaded = loadTestConfig({
      ...gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
      authorization_server: { enabled: true, issuer: 'http://127.0.0.1:8080' },
      development: { allow_loopback_urls: true },
    });
    const memory = memoryLogger();
    logs = memory.logs;
    gateway = await startPortcullis(loaded, {
      logger: memory.logger,
      audit: false,
      store: new MemoryStore(),
    });
    port = Number(new URL(gateway.url).port);
  });

  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const host = () => `127.0.0.1:${port}`;
  const initialize =
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}';
  const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

  const cases: { name: string; payload: () => string; status: number; code: string }[] = [
    {
      name: 'TRACE on an authorization-server path',
      payload: () => `TRACE /oauth/token HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
      status: 501,
      code: 'method_not_implemented',
    },
    {
      name: 'TRACE on a path nobody serves',
      payload: () => `TRACE /nothing HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
      status: 501,
      code: 'method_not_implemented',
    },
    {
      name: 'TRACE on the health probe',
      payload: () => `TRACE /healthz HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
      status: 501,
      code: 'method_not_implemented',
    },
    {
      name: "TRACE on the MCP route (405 with the route's Allow list)",
      payload: () => `TRACE /mcp HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
      status: 405,
      code: 'method_not_allowed',
    },
    {
      name: 'another method (PROPFIND) on the metadata path (405 with Allow)',
      payload: () =>
        `PROPFIND /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
      status: 405,
      code: 'method_not_allowed',
    },
    {
      name: 'Transfer-Encoding: gzip, chunked on the MCP route',
      payload: () =>
        `POST /mcp HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n${chunked(initialize)}`,
      status: 501,
      code: 'transfer_coding_not_implemented',
    },
    {
      name: 'Transfer-Encoding: gzip, chunked on the token endpoint',
      payload: () =>
        `POST /oauth/token HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n${chunked('grant_type=x')}`,
      status: 501,
      code: 'transfer_coding_not_implemented',
    },
  ];

  for (const testCase of cases) {
    it(`${testCase.name}: ${testCase.status}, no error log, the upstream sees nothing`, async () => {
      const seen = upstream.requests.length;
      const logged = logs.length;
      const reply = await rawExchange(port, testCase.payload());
      assert.equal(reply.status, testCase.status, reply.text);
      assert.match(reply.text, new RegExp(testCase.code));
      assert.equal(upstream.requests.length, seen);
      const errors = logs.slice(logged).filter((record) => Number(record.level) >= 50);
      assert.deepEqual(errors, [], 'no error-level log line');
    });
  }

  it('positive control: a plain chunked initialize is served', async () => {
    const seen = upstream.requests.length;
    const reply = await rawExchange(
      port,
      `POST /mcp HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(initialize)}`,
    );
    assert.equal(reply.status, 200, reply.text);
    assert.equal(upstream.requests.length, seen + 1);
  });

  it('/readyz for a foreign Host name (DNS rebinding) gives the status alone, no upstream names', async () => {
    for (const foreign of [
      'rebind.attacker.example',
      `rebind.attacker.example:${port}`,
      `localhost.attacker.example:${port}`,
    ]) {
      const reply = await rawExchange(
        port,
        `GET /readyz HTTP/1.1\r\nHost: ${foreign}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(reply.status, 200, foreign);
      const body = reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4);
      assert.deepEqual(JSON.parse(body.replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '')), {
        status: 'ready',
      });
      assert.doesNotMatch(reply.text, /upstream|files|audit|token_keys/);
    }
  });

  it('positive control: /readyz for the served host or the pod address names its checks', async () => {
    for (const served of [host(), `127.0.0.1`]) {
      const reply = await rawExchange(
        port,
        `GET /readyz HTTP/1.1\r\nHost: ${served}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(reply.status, 200);
      assert.match(reply.text, /"upstream:files":"reachable"/);
    }
  });

  it('positive control: GET of the authorization server metadata is served', async () => {
    const reply = await rawExchange(
      port,
      `GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(reply.status, 200);
  });
});
