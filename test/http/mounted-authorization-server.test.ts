/**
 * The co-located authorization server mounted in the gateway's HTTP front: its routes are
 * answered beside the MCP routes, cross-origin callers are let through (RFC 8414 §3, RFC 7591 §3)
 * but a foreign Host is not (DNS rebinding), and while the audit trail cannot be written its
 * routes are refused like the gateway's (503 AuditUnavailable), since tokens issued there must
 * be audited too.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import { AuditSink, FileAuditBackend } from '../../src/audit/index.ts';
import type { AuthorizationServer } from '../../src/authorization-server/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { tempDir } from '../helpers/cli.ts';
import {
  gatewayDocument,
  loadTestConfig,
  memoryLogger,
  stdioTestUpstream,
} from '../helpers/gateway.ts';

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200 && !check(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.ok(check(), `timed out waiting for ${what}`);
}

describe('the authorization server mounted in the HTTP front', () => {
  let gateway: RunningPortcullis;
  let server: AuthorizationServer;
  let sink: AuditSink;
  let auditDir: string;

  before(async () => {
    auditDir = join(tempDir(), 'audit');
    const loaded = loadTestConfig({
      ...gatewayDocument({ auth: 'none', upstreams: [stdioTestUpstream()] }),
      authorization_server: { enabled: true, issuer: 'http://127.0.0.1:8080' },
    });
    const { logger } = memoryLogger();
    sink = new AuditSink(new FileAuditBackend(join(auditDir, 'audit.jsonl'), 1_000_000), {
      retryMs: 25,
    });
    // The assembler builds the authorization server the config enables, on this store.
    gateway = await startPortcullis(loaded, { logger, audit: sink, store: new MemoryStore() });
    assert.ok(gateway.authorizationServer);
    server = gateway.authorizationServer;
  });

  after(async () => {
    await gateway?.close();
    await server?.close();
    await sink?.close().catch(() => {});
  });

  const metadata = (headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/.well-known/oauth-authorization-server`, { headers });

  /** GET with raw headers (fetch cannot set Host). */
  const rawGet = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(gateway.url);
      const request = http.request(
        { host: url.hostname, port: url.port, path, headers },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      request.end();
    });

  const refusals: {
    name: string;
    headers: () => Record<string, string>;
    status: number;
    code: string;
  }[] = [
    {
      name: 'a foreign Host (DNS rebinding)',
      headers: () => ({ host: 'evil.example' }),
      status: 403,
      code: 'RequestOriginForbidden',
    },
    {
      name: 'a foreign Host with the right port',
      headers: () => ({ host: `evil.example:${new URL(gateway.url).port}` }),
      status: 403,
      code: 'RequestOriginForbidden',
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}: ${refusal.status} ${refusal.code}`, async () => {
      const response = await rawGet('/.well-known/oauth-authorization-server', refusal.headers());
      assert.equal(response.status, refusal.status, response.body);
      assert.equal((JSON.parse(response.body) as { code: string }).code, refusal.code);
    });
  }

  it("positive control: the gateway's own Host gets the metadata", async () => {
    const response = await rawGet('/.well-known/oauth-authorization-server', {
      host: new URL(gateway.url).host,
    });
    assert.equal(response.status, 200, response.body);
  });

  it('lets a cross-origin caller read the metadata (RFC 8414 §3)', async () => {
    const response = await metadata({ origin: 'https://app.example' });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { issuer: string }).issuer, 'http://127.0.0.1:8080');
  });

  it('an unknown path is still 404 RouteNotFound', async () => {
    const response = await fetch(`${gateway.url}/nothing-here`);
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { code: string }).code, 'RouteNotFound');
  });

  it('refuses its routes with 503 AuditUnavailable while the trail cannot be written, serves again after', async () => {
    // Break the trail: the directory becomes a file, so the next write fails.
    rmSync(auditDir, { recursive: true, force: true });
    writeFileSync(auditDir, 'not a directory');
    const registration = () =>
      fetch(`${gateway.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'x',
          redirect_uris: ['http://127.0.0.1:9/cb'],
          token_endpoint_auth_method: 'none',
        }),
      });
    // A registration writes an audit record; the sink then finds it cannot write.
    await (await registration()).body?.cancel();
    await eventually(() => !sink.healthy, 'the audit sink to notice');
    const refused = await registration();
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { code: string }).code, 'AuditUnavailable');

    // Positive control: the trail comes back, and so does the authorization server.
    rmSync(auditDir, { force: true });
    mkdirSync(auditDir);
    await eventually(() => sink.healthy, 'the audit sink to recover');
    const served = await registration();
    assert.equal(served.status, 201);
  });
});
