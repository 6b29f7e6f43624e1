import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RequestError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/lib/log.ts';
import { classifyInbound, type ModernRequest } from '../../src/mcp/modern/inbound.ts';
import { ModernHttpForwarder } from '../../src/proxy/modern/http-forward.ts';
import { BoundedAnswer } from '../../src/proxy/responses.ts';

/**
 * How the modern forwarder turns each kind of upstream answer into the gateway's answer: small
 * answers of known length become bounded answers (one write at the front), SSE and large or
 * unsized bodies stay streams, failures become the gateway's own errors with nothing of the
 * upstream's relayed, and a client that leaves cancels the upstream request. The upstream is a
 * plain HTTP server scripted per test path, so each edge can be produced exactly.
 */

type Script = (request: http.IncomingMessage, response: http.ServerResponse) => void;

const json = (text: string, extra: http.OutgoingHttpHeaders = {}): Script => {
  return (_request, response) => {
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...extra,
    });
    response.end(text);
  };
};

const RESULT = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } });
const LARGE = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(300_000) } });

const scripts: Record<string, Script> = {
  '/ok': json(RESULT),
  '/accepted': (_request, response) => {
    response.writeHead(202).end();
  },
  '/large': json(LARGE),
  '/unsized': (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write(RESULT.slice(0, 10));
    response.end(RESULT.slice(10));
  },
  '/challenge': (_request, response) => {
    response.writeHead(401, { 'www-authenticate': 'Bearer realm="upstream"' }).end('no');
  },
  '/proxy-auth': (_request, response) => {
    response.writeHead(407).end('no');
  },
  '/challenge-on-200': json(RESULT, { 'www-authenticate': 'Bearer realm="upstream"' }),
  '/redirect': (_request, response) => {
    response.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end();
  },
  '/error': (_request, response) => {
    response.writeHead(500, { 'content-type': 'application/json' }).end('{"secret":"trace"}');
  },
  '/cut-short': (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
    response.write(RESULT.slice(0, 20));
    setImmediate(() => response.socket?.destroy());
  },
  '/stream': (request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'x' })}\n\n`);
    request.socket.once('close', () => streamClosed.push(request.url ?? ''));
  },
  '/huge-list': (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const chunk = 'x'.repeat(1024 * 1024);
    response.write(`{"jsonrpc":"2.0","id":1,"result":{"tools":[],"pad":"`);
    let sent = 0;
    const more = () => {
      while (sent < 9) {
        sent += 1;
        if (!response.write(chunk)) {
          response.once('drain', more);
          return;
        }
      }
      response.end('"}}');
    };
    more();
  },
};
const streamClosed: string[] = [];

function modernRequest(): { request: ModernRequest; text: string } {
  const body = {
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/list',
    params: {
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  };
  const outcome = classifyInbound({
    httpMethod: 'POST',
    headers: { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
    body,
  });
  assert.equal(outcome.kind, 'modern');
  return { request: (outcome as { request: ModernRequest }).request, text: JSON.stringify(body) };
}

function bodyText(answer: BoundedAnswer): string {
  const body = answer.body;
  return typeof body === 'string' ? body : Buffer.from(body ?? new Uint8Array()).toString('utf8');
}

describe('modern forwarder: each kind of upstream answer', () => {
  let server: http.Server;
  let base: string;
  const forwarders: ModernHttpForwarder[] = [];
  const logger = createLogger({ level: 'silent' });
  const forwarderFor = (path: string) => {
    const forwarder = new ModernHttpForwarder({ url: `${base}${path}`, headers: {}, logger });
    forwarders.push(forwarder);
    return forwarder;
  };
  const forward = (path: string, extra: { filter?: (m: Record<string, unknown>) => string } = {}) =>
    forwarderFor(path).forward({
      ...modernRequest(),
      signal: new AbortController().signal,
      ...extra,
    });

  before(async () => {
    server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => scripts[request.url ?? '']?.(request, response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const forwarder of forwarders) await forwarder.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses what the client must not see as such (positive control last)', async () => {
    const cases: [string, string][] = [
      ['/challenge', 'the upstream refused the gateway'],
      ['/proxy-auth', 'the upstream refused the gateway'],
      ['/challenge-on-200', 'the upstream refused the gateway'],
      ['/redirect', 'the upstream failed (status 302)'],
      ['/error', 'the upstream failed (status 500)'],
    ];
    for (const [path, message] of cases) {
      await assert.rejects(
        forward(path),
        (error: unknown) =>
          error instanceof RequestError &&
          error.code === 'UpstreamFailed' &&
          error.message === message,
        path,
      );
    }
    const answer = await forward('/ok');
    assert.ok(answer instanceof BoundedAnswer);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(answer.headers['www-authenticate'], undefined);
    assert.equal(bodyText(answer), RESULT);
  });

  it('answers 202 as a bounded answer with no body', async () => {
    const answer = await forward('/accepted');
    assert.ok(answer instanceof BoundedAnswer);
    assert.equal(answer.status, 202);
    assert.equal(answer.body, undefined);
  });

  it('streams a body larger than the buffered bound, and one of unknown length, whole', async () => {
    for (const [path, expected] of [
      ['/large', LARGE],
      ['/unsized', RESULT],
    ] as const) {
      const answer = await forward(path);
      assert.ok(answer instanceof Response, path);
      assert.equal(await answer.text(), expected, path);
    }
  });

  it('fails as unreachable when the upstream cuts its answer short or cannot be reached', async () => {
    await assert.rejects(
      forward('/cut-short'),
      (error: unknown) => error instanceof RequestError && error.code === 'UpstreamUnavailable',
    );
    const closed = new ModernHttpForwarder({ url: 'http://127.0.0.1:1/mcp', headers: {}, logger });
    forwarders.push(closed);
    await assert.rejects(
      closed.forward({ ...modernRequest(), signal: new AbortController().signal }),
      (error: unknown) => error instanceof RequestError && error.code === 'UpstreamUnavailable',
    );
  });

  it('answers a list too large to filter with a JSON-RPC error instead of buffering it', async () => {
    const answer = await forward('/huge-list', { filter: () => 'never used' });
    assert.ok(answer instanceof BoundedAnswer);
    const body = JSON.parse(bodyText(answer)) as { id: number; error: { code: number } };
    assert.equal(body.id, 1);
    assert.equal(body.error.code, -32603);
  });

  it('cancels the upstream request when the reader of a stream goes away', async () => {
    const answer = await forward('/stream');
    assert.ok(answer instanceof Response);
    const reader = answer.body?.getReader();
    assert.ok(reader);
    const first = await reader.read();
    assert.match(Buffer.from(first.value ?? new Uint8Array()).toString('utf8'), /"method":"x"/);
    await reader.cancel();
    while (!streamClosed.includes('/stream')) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(streamClosed, ['/stream']);
  });
});
