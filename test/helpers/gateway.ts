import { fileURLToPath } from 'node:url';
import { type RunningPortcullis, startPortcullis } from '../../src/assembly/index.ts';
import type { AuditSink } from '../../src/audit/index.ts';
import { type LoadedConfig, loadConfigText } from '../../src/config/index.ts';
import { createLogger, type Logger } from '../../src/lib/log.ts';
import type { AuthStage, RateLimiter } from '../../src/proxy/index.ts';
import { HMAC_SECRET } from './cli.ts';
import { toYaml } from './configs.ts';

export const STDIO_TEST_SERVER = fileURLToPath(new URL('./stdio-test-server.ts', import.meta.url));
export const EVERYTHING_ENTRY = fileURLToPath(
  new URL(
    '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
    import.meta.url,
  ),
);

export const TEST_SCOPES = ['files:read', 'files:write', 'mcp:resources', 'mcp:prompts'];

/** Tool scopes of the test upstream (admin_tool is deliberately unmapped). */
export const TEST_TOOL_SCOPES = {
  read_file: 'files:read',
  write_file: 'files:write',
  pid: 'files:read',
  sleep: 'files:read',
};

export type UpstreamDocument = Record<string, unknown>;

/** An upstream entry running the stdio test server. */
export function stdioTestUpstream(extra: UpstreamDocument = {}): UpstreamDocument {
  return {
    name: 'files',
    path: '/mcp',
    command: process.execPath,
    args: [STDIO_TEST_SERVER],
    tool_scopes: TEST_TOOL_SCOPES,
    method_scopes: { resources: 'mcp:resources', prompts: 'mcp:prompts' },
    ...extra,
  };
}

/** An upstream entry pointing at an HTTP server. */
export function httpUpstream(url: string, extra: UpstreamDocument = {}): UpstreamDocument {
  return {
    name: 'files',
    path: '/mcp',
    url,
    tool_scopes: TEST_TOOL_SCOPES,
    method_scopes: { resources: 'mcp:resources', prompts: 'mcp:prompts' },
    ...extra,
  };
}

export interface GatewayDocumentOptions {
  readonly auth: 'none' | 'oauth';
  readonly upstreams: readonly UpstreamDocument[];
  readonly remoteMcp?: Record<string, unknown>;
  readonly allowedScopes?: readonly string[];
}

/** A gateway config on 127.0.0.1 with an ephemeral port. */
export function gatewayDocument(options: GatewayDocumentOptions): Record<string, unknown> {
  const oauth =
    options.auth === 'oauth'
      ? {
          issuer: 'https://issuer.test/',
          jwks_url: 'https://issuer.test/jwks.json',
          token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
        }
      : {};
  return {
    remote_mcp: {
      enabled: true,
      bind_address: '127.0.0.1:0',
      auth: options.auth,
      allowed_scopes: options.allowedScopes ?? TEST_SCOPES,
      rate_limit_max_requests: 10_000,
      ...oauth,
      ...options.remoteMcp,
    },
    safety: { remote_mcp_enabled: true },
    upstreams: options.upstreams,
  };
}

export function loadTestConfig(
  document: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
): LoadedConfig {
  return loadConfigText(toYaml(document), {
    source: 'test',
    env: { TEST_HMAC_SECRET: HMAC_SECRET, ...env },
  });
}

export interface TestGateway {
  readonly running: RunningPortcullis;
  /** The MCP URL of a route. */
  url(path?: string): string;
  /** JSON log records written so far. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A logger whose records are kept in memory (and never printed). */
export function memoryLogger(): { logger: Logger; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: {
      write(line: string) {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { logger, logs };
}

export async function startTestGateway(
  document: Record<string, unknown>,
  options: {
    auth?: AuthStage;
    env?: NodeJS.ProcessEnv;
    audit?: AuditSink;
    rateLimiter?: RateLimiter;
  } = {},
): Promise<TestGateway> {
  const loaded = loadTestConfig(document, options.env);
  const { logger, logs } = memoryLogger();
  const running = await startPortcullis(loaded, {
    logger,
    ...(options.auth === undefined ? {} : { authentication: options.auth }),
    audit: options.audit ?? false,
    ...(options.rateLimiter === undefined ? {} : { rateLimiter: options.rateLimiter }),
  });
  return {
    running,
    url: (path = '/mcp') => `${running.url}${path}`,
    logs,
    close: () => running.close(),
  };
}
