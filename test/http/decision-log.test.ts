/**
 * A decision the audit trail records is not written to the log again at the default level: with
 * an audit trail, allowed and refused requests appear in the log only at debug; without one, the
 * log is their only record and keeps them at info (positive control).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditSink, FileAuditBackend } from '../../src/audit/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  gatewayDocument,
  httpUpstream,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.ts';
import { mcpHeaders, openSession, request, toolCall } from '../helpers/http-client.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

type LogRecord = Record<string, unknown>;

/** Log records about one request's decision: the allowed line, or a refusal's code. */
const decisionsIn = (logs: readonly LogRecord[]) =>
  logs.filter((line) => line.msg === 'allowed' || line.code === 'McpToolDenied');

/** The gateway's access lines (one per request). */
const accessLinesIn = (logs: readonly LogRecord[]) =>
  logs.filter((line) => line.msg === 'request' && line.server === 'gateway');

describe('decisions in the log', () => {
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream({ jsonResponse: true });
  });
  after(async () => {
    await upstream?.close();
  });

  /** One allowed call and one refused call (admin_tool has no scope mapping: denied). */
  async function exercise(gateway: TestGateway): Promise<void> {
    const session = await openSession(gateway.url());
    const headers = mcpHeaders({ 'mcp-session-id': session });
    const allowed = await request(gateway.url(), {
      headers,
      body: toolCall('read_file', { path: 'a' }, 2),
    });
    assert.equal(allowed.status, 200);
    const denied = await request(gateway.url(), { headers, body: toolCall('admin_tool', {}, 3) });
    assert.equal(denied.status, 403);
  }

  it('with an audit trail, decisions are logged at debug only', async () => {
    const sink = new AuditSink(new FileAuditBackend(join(tempDir(), 'audit.jsonl'), 1_000_000));
    const gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
      { audit: sink },
    );
    try {
      await exercise(gateway);
      const decisions = decisionsIn(gateway.logs);
      assert.ok(decisions.length >= 2, 'the debug log still has them');
      assert.deepEqual(
        decisions.filter((line) => line.level !== 'debug'),
        [],
        'nothing above debug',
      );
      const access = accessLinesIn(gateway.logs);
      assert.ok(access.length >= 2, 'the debug log still has the access lines');
      assert.deepEqual(
        access.filter((line) => line.level !== 'debug'),
        [],
        'no access line above debug',
      );
    } finally {
      await gateway.close();
      await sink.close();
    }
  });

  it('positive control: without an audit trail, decisions stay at info', async () => {
    const gateway = await startTestGateway(
      gatewayDocument({ auth: 'none', upstreams: [httpUpstream(upstream.url)] }),
    );
    try {
      await exercise(gateway);
      const decisions = decisionsIn(gateway.logs);
      assert.ok(decisions.some((line) => line.msg === 'allowed' && line.level === 'info'));
      assert.ok(decisions.some((line) => line.code === 'McpToolDenied' && line.level === 'info'));
      const access = accessLinesIn(gateway.logs);
      assert.ok(access.some((line) => line.status === 200 && line.level === 'info'));
      assert.ok(access.some((line) => line.status === 403 && line.level === 'info'));
    } finally {
      await gateway.close();
    }
  });
});
