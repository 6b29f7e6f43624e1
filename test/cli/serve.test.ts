import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { verifyAuditTrail } from '../../src/audit/index.ts';
import { CLI_ENTRY, HMAC_SECRET, REPO_ROOT, runCli, tempDir, tempFile } from '../helpers/cli.ts';
import { toYaml } from '../helpers/configs.ts';
import { gatewayDocument, stdioTestUpstream } from '../helpers/gateway.ts';
import { json, startLoopbackServer } from '../helpers/http-server.ts';

/** Each test its own audit trail, never ./data under the repository. */
const auditAt = (path = join(tempDir(), 'audit.jsonl')) => ({ path });

const localConfig = (audit: Record<string, unknown> = auditAt()) =>
  tempFile(
    'gateway.yaml',
    toYaml({ ...gatewayDocument({ auth: 'none', upstreams: [stdioTestUpstream()] }), audit }),
  );

const auditRecords = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const textOf = (result: Awaited<ReturnType<Client['callTool']>>) =>
  (result.content as { text?: string }[])[0]?.text ?? '';

describe('portcullis serve', () => {
  it('serves auth: oauth as a real process: 401 with a challenge, 200 metadata, clean stop', async () => {
    const jwks = await startLoopbackServer({
      '/jwks.json': (_request, response) => json(response, 200, { keys: [] }),
    });
    const auditPath = join(tempDir(), 'audit.jsonl');
    const path = tempFile(
      'oauth.yaml',
      toYaml({
        ...gatewayDocument({
          auth: 'oauth',
          upstreams: [stdioTestUpstream()],
          remoteMcp: { issuer: 'https://issuer.test/', jwks_url: `${jwks.origin}/jwks.json` },
        }),
        development: { allow_loopback_urls: true },
        audit: auditAt(auditPath),
      }),
    );
    const child = spawn(
      process.execPath,
      [CLI_ENTRY, 'serve', '--config', path, '--enable-remote-mcp'],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          PORTCULLIS_LOG_LEVEL: 'error',
          TEST_HMAC_SECRET: HMAC_SECRET,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = once(child, 'exit');
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => {
          text += chunk;
          const match = /serving (http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(text);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.once('exit', () => reject(new Error(`serve exited: ${text}`)));
      });
      const denied = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      });
      assert.equal(denied.status, 401);
      assert.match(
        denied.headers.get('www-authenticate') ?? '',
        /^Bearer scope="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/,
      );
      const metadata = await fetch(`${url}/.well-known/oauth-protected-resource/mcp`);
      assert.equal(metadata.status, 200);
      assert.deepEqual(
        ((await metadata.json()) as { authorization_servers: string[] }).authorization_servers,
        ['https://issuer.test/'],
      );
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
      // serve writes the audit trail from the config, and closes it on the way out.
      assert.deepEqual(
        auditRecords(auditPath).map((record) => [record.event, record.reason, record.status]),
        [['auth.token.rejected', 'AuthTokenMissing', 401]],
      );
      assert.equal(verifyAuditTrail(auditPath).ok, true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await jwks.close();
    }
  });

  it('--describe shows the live route table: policy, methods and gateway endpoints', async () => {
    const result = await runCli(['serve', '--config', localConfig(), '--describe']);
    assert.equal(result.code, 0, result.stderr);
    const described = JSON.parse(result.stdout);
    const [route] = described.routes;
    assert.equal(route.path, '/mcp');
    assert.deepEqual(route.http_methods, ['POST', 'GET', 'DELETE']);
    assert.equal(
      route.policy['tools/call'],
      'tool_scopes[name], else tool_scopes["*"], else refused',
    );
    assert.equal(route.policy['resources/read'], 'scope mcp:resources');
    assert.equal(route.policy['completion/complete'], 'refused (no method_scopes entry)');
    assert.equal(route.max_sessions, 32);
    assert.deepEqual(
      described.gateway_endpoints.routes.map((endpoint: { path: string }) => endpoint.path),
      ['/healthz', '/readyz', '/metrics'],
    );
    assert.equal(described.gateway_endpoints.metrics, '/metrics on this (loopback) listener');
  });

  it('--transport stdio refuses audit.stdout (stdout is the protocol channel)', async () => {
    const result = await runCli([
      'serve',
      '--transport',
      'stdio',
      '--config',
      localConfig({ stdout: true }),
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /audit\.stdout/);
    assert.match(result.stderr, /standard output carries the MCP protocol/);
    assert.equal(result.stdout, '');
  });

  it('--transport stdio serves a local client with the same policy, no OAuth', async () => {
    const auditPath = join(tempDir(), 'audit.jsonl');
    const client = new Client({ name: 'local-client', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [
          CLI_ENTRY,
          'serve',
          '--transport',
          'stdio',
          '--config',
          localConfig(auditAt(auditPath)),
        ],
        cwd: REPO_ROOT,
        stderr: 'ignore',
      }),
    );
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((tool) => tool.name).sort(), [
        'pid',
        'read_file',
        'sleep',
        'write_file',
      ]);
      assert.equal(tools[0]?._meta?.['portcullis/scope'] !== undefined, true);
      const result = await client.callTool({ name: 'read_file', arguments: { path: 'local' } });
      assert.equal(textOf(result), 'contents of local');
      await assert.rejects(
        client.callTool({ name: 'admin_tool', arguments: {} }),
        (error: Error & { code?: number }) => {
          assert.equal(error.code, -32602);
          assert.match(error.message, /not available through this gateway/);
          return true;
        },
      );
      await assert.rejects(
        client.complete({
          ref: { type: 'ref/prompt', name: 'greet' },
          argument: { name: 'a', value: 'b' },
        }),
        /not enabled/,
      );
      const resources = await client.listResources();
      assert.equal(resources.resources[0]?.uri, 'test://readme');
    } finally {
      await client.close();
    }
    // One record per client message, to the file: allowed and refused alike.
    assert.deepEqual(
      auditRecords(auditPath).map((r) => [r.event, r.method, r.tool ?? null, r.reason ?? null]),
      [
        ['mcp.request.allowed', 'initialize', null, null],
        ['mcp.request.allowed', 'notifications/initialized', null, null],
        ['mcp.request.allowed', 'tools/list', null, null],
        ['mcp.request.allowed', 'tools/call', 'read_file', null],
        ['mcp.request.denied', 'tools/call', 'admin_tool', 'McpToolDenied'],
        ['mcp.request.denied', 'completion/complete', null, 'McpMethodDenied'],
        ['mcp.request.allowed', 'resources/list', null, null],
      ],
    );
    const [first] = auditRecords(auditPath);
    assert.equal(first?.subject, 'local');
    assert.equal(first?.status, undefined, 'no HTTP status under stdio');
  });

  it('serves over HTTP and stops gracefully on SIGTERM: the call in flight finishes, the child stops', async () => {
    const child = spawn(
      process.execPath,
      [CLI_ENTRY, 'serve', '--config', localConfig(), '--enable-remote-mcp'],
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', PORTCULLIS_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = once(child, 'exit');
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => {
          text += chunk;
          const match = /serving (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(text);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.once('exit', () => reject(new Error(`serve exited: ${text}`)));
      });
      const client = new Client({ name: 'shutdown-test', version: '1.0.0' });
      client.onerror = () => {};
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      const upstreamPid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
      let inFlight: () => void = () => {};
      const started = new Promise<void>((resolve) => {
        inFlight = resolve;
      });
      const call = client.callTool({ name: 'sleep', arguments: { ms: 1000 } }, undefined, {
        onprogress: () => inFlight(),
      });
      await started;
      child.kill('SIGTERM');
      assert.equal(textOf(await call), 'slept', 'the request in flight was drained');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.throws(
        () => process.kill(upstreamPid, 0),
        { code: 'ESRCH' },
        'the child process is gone',
      );
      await client.close();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
