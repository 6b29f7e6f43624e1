import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AuditSink,
  FileAuditBackend,
  rotatedSet,
  verifyAuditTrail,
} from '../../src/audit/index.ts';
import { spawnCliAsync, tempDir } from '../helpers/cli.ts';
import { gatewayDocument, httpUpstream, startTestGateway } from '../helpers/gateway.ts';
import { openSession } from '../helpers/http-client.ts';

/**
 * Volume through the real gateway: 10,000 requests over real sockets, with the audit file
 * rotating every few hundred records, give exactly one record per request and a chain that
 * `portcullis audit verify` (a real process) accepts across every rotated file. The upstream
 * is a minimal JSON-RPC answerer so that the gateway and the trail are what is exercised.
 */

const REQUESTS = 10_000;
const CONCURRENCY = 16;
/** About 600 bytes per record: a rotation every ~300 records. */
const ROTATE_BYTES = 180_000;

async function startEchoUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        id?: unknown;
        method?: string;
      };
      if (message.id === undefined) {
        response.writeHead(202).end();
        return;
      }
      const result =
        message.method === 'initialize'
          ? {
              protocolVersion: '2025-11-25',
              capabilities: { tools: {} },
              serverInfo: { name: 'echo', version: '1' },
            }
          : {};
      const body = JSON.stringify({ jsonrpc: '2.0', id: message.id, result });
      response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One keep-alive POST; resolves with the status. */
function ping(agent: http.Agent, url: URL, session: string, id: number): Promise<number> {
  const body = `{"jsonrpc":"2.0","id":${id},"method":"ping"}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': session,
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('audit trail under volume', () => {
  it(`${REQUESTS} requests through the gateway, rotating every few hundred records: exactly ${REQUESTS} records, the chain verifies`, async () => {
    const upstream = await startEchoUpstream();
    const path = join(tempDir(), 'audit.jsonl');
    const sink = new AuditSink(new FileAuditBackend(path, ROTATE_BYTES), {
      maxQueued: REQUESTS * 2,
    });
    const gateway = await startTestGateway(
      gatewayDocument({
        auth: 'none',
        remoteMcp: { rate_limit_max_requests: 1_000_000 },
        upstreams: [httpUpstream(upstream.url)],
      }),
      { audit: sink },
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    try {
      const session = await openSession(gateway.url());
      const url = new URL(gateway.url());
      const statuses = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            next += 1;
            const status = await ping(agent, url, session, next);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }),
      );
      assert.deepEqual([...statuses], [[200, REQUESTS]]);
    } finally {
      agent.destroy();
      await gateway.close();
      await sink.close();
      await upstream.close();
    }

    const { rotated } = rotatedSet(path);
    assert.ok(rotated.length >= 20, `rotated ${rotated.length} times`);
    const records = [...rotated, path].flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { event: string; method?: string; status?: number }),
    );
    const pings = records.filter((record) => record.method === 'ping');
    assert.equal(pings.length, REQUESTS, 'one record per request');
    assert.ok(pings.every((record) => record.event === 'mcp.request.allowed'));
    // initialize and notifications/initialized, then the pings: nothing else, nothing lost.
    assert.equal(records.length, REQUESTS + 2);
    assert.equal(sink.status().dropped, 0);
    const verification = verifyAuditTrail(path);
    assert.deepEqual([verification.ok, verification.records], [true, REQUESTS + 2]);
    const cli = await spawnCliAsync(['audit', 'verify', path]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      new RegExp(`intact: ${REQUESTS + 2} records in ${rotated.length + 1} files`),
    );
  });
});
