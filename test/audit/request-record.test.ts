import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type AuditEvent, AuditSink, FileAuditBackend } from '../../src/audit/index.ts';
import type { Principal } from '../../src/proxy/auth-stage.ts';
import {
  newRequestFacts,
  type RequestFacts,
  RequestObserver,
  type RequestOutcome,
} from '../../src/proxy/request-facts.ts';
import { tempDir } from '../helpers/cli.ts';

/**
 * A request's audit record is serialized from pre-serialized parts (request-facts.ts), apart
 * from the generic serializer every other record goes through (audit/sink.ts): both must write
 * the same members, in the same order, for the same facts.
 */

const principal: Principal = Object.freeze({
  subject: 'alice "the" \\ admin',
  clientId: 'client-1',
  scopes: new Set(['files:write', 'files:read']),
  tokenIdHash: 'a'.repeat(64),
});

/** An allowed request (with trace context and arguments) or a refused one (without). */
function requestFacts(refused: boolean): RequestFacts {
  const facts = newRequestFacts();
  facts.kind = 'mcp';
  facts.upstream = 'files';
  facts.path = '/mcp';
  facts.principal = principal;
  facts.sessionId = 'session-1';
  facts.method = 'tools/call';
  facts.tool = 'read_file';
  facts.requiredScopes = Object.freeze(['files:read']);
  if (refused) {
    facts.reason = 'AuthMissingScope';
  } else {
    facts.upstreamAttempted = true;
    facts.traceId = '0af7651916cd43dd8448eb211c80319c';
    facts.arguments = { path: 'a "b"' };
  }
  return facts;
}

function outcome(refused: boolean): RequestOutcome {
  return {
    requestId: `00000000-0000-4000-8000-00000000000${refused ? 2 : 1}`,
    clientAddress: '127.0.0.1',
    httpMethod: 'POST',
    status: refused ? 403 : 200,
  };
}

/** The same facts as an AuditEvent, in AuditEvent's field order. */
function equivalentEvent(refused: boolean, latencyMs: number): AuditEvent {
  const allowedOnly = refused
    ? {}
    : { trace_id: '0af7651916cd43dd8448eb211c80319c', arguments: { path: 'a "b"' } };
  return {
    event: refused ? 'mcp.request.denied' : 'mcp.request.allowed',
    request_id: outcome(refused).requestId,
    session_id: 'session-1',
    subject: principal.subject,
    client_id: 'client-1',
    token_id_hash: 'a'.repeat(64),
    sender_constraint: 'bearer',
    upstream: 'files',
    method: 'tools/call',
    tool: 'read_file',
    decision: refused ? 'deny' : 'allow',
    ...(refused ? { reason: 'AuthMissingScope' } : {}),
    required_scopes: ['files:read'],
    granted_scopes: ['files:read', 'files:write'],
    status: refused ? 403 : 200,
    latency_ms: latencyMs,
    client_address: '127.0.0.1',
    http_method: 'POST',
    path: '/mcp',
    ...allowedOnly,
  };
}

/** A line's members between the time and the chain fields. */
function members(line: string): string {
  return line.slice(line.indexOf(',"event"'), line.indexOf(',"seq"'));
}

describe('a request audit record', () => {
  it('has the members of the equivalent AuditEvent, in its field order', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'audit.jsonl');
      const sink = new AuditSink(new FileAuditBackend(path, 1024 * 1024));
      const observer = new RequestObserver({ sink });
      for (const refused of [false, true]) observer.finish(requestFacts(refused), outcome(refused));
      assert.equal(await sink.flush(), true);
      const written = readFileSync(path, 'utf8').trim().split('\n');
      const expected = [false, true].map((refused, index) => {
        const record = JSON.parse(written[index] ?? '{}') as Record<string, unknown>;
        const event = equivalentEvent(refused, record.latency_ms as number);
        const { time, seq, prev, hash, ...fields } = record;
        assert.equal(typeof time, 'string');
        assert.equal(typeof hash, 'string');
        assert.deepEqual(Object.keys(fields), Object.keys(event));
        assert.deepEqual(fields, event);
        return event;
      });
      // The same events through the generic serializer: byte for byte the same members.
      for (const event of expected) sink.record(event);
      assert.equal(await sink.flush(), true);
      const all = readFileSync(path, 'utf8').trim().split('\n');
      assert.equal(all.length, 4);
      assert.equal(members(all[2] ?? ''), members(all[0] ?? ''));
      assert.equal(members(all[3] ?? ''), members(all[1] ?? ''));
      await sink.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
