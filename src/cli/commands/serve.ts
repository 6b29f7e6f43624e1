import { runPortcullisStdio, startPortcullis } from '../../assembly/index.ts';
import {
  ADMIN_PASSWORD_ENV,
  type AdminBootstrap,
  ensureAdminUser,
} from '../../authorization-server/index.ts';
import {
  describeConfig,
  type LoadedConfig,
  loadConfigFile,
  missingHttpGates,
} from '../../config/index.ts';
import { ConfigError } from '../../errors/index.ts';
import { createLogger } from '../../lib/log.ts';
import { buildRouteTable } from '../../proxy/index.ts';
import { type CliIo, EXIT_OK, processIo } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';
import { prepareQuickstart, putPackageBinOnPath, QUICKSTART_CONFIG } from '../quickstart.ts';

export const SERVE_HELP = `Usage: portcullis serve [--config FILE] [--transport http|stdio] [--bind HOST:PORT]
                       [--enable-remote-mcp] [--describe]

Run the gateway in front of the upstream MCP servers named in the config. Stops gracefully
on SIGTERM or SIGINT: new connections refused, SSE streams ended, requests in flight drained
(remote_mcp.shutdown_grace_seconds), child processes stopped.

Options:
  --config FILE          YAML config (see docs/configuration.md). Without it, the quickstart:
                         examples/quickstart.yaml with local state under ./data/.
  --transport MODE       http (default) or stdio: serve the default (first) upstream to a
                         local client on stdin/stdout, same policy, no OAuth (local trust).
  --bind HOST:PORT       Listen address; overrides remote_mcp.bind_address.
  --enable-remote-mcp    Third switch for the HTTP transport, with remote_mcp.enabled and
                         safety.remote_mcp_enabled in the config.
  --describe             Print what would be served (routes, resource URIs, metadata URLs,
                         scopes, limits, effective config with secrets redacted) as JSON, and
                         exit without binding anything.
  -h, --help             Show this help.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.`;

export async function serveCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseFlags('serve', args, {
    config: { type: 'string' },
    transport: { type: 'string', default: 'http' },
    bind: { type: 'string' },
    'enable-remote-mcp': { type: 'boolean', default: false },
    describe: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(SERVE_HELP);
    return EXIT_OK;
  }
  const transport = values.transport;
  if (transport !== 'http' && transport !== 'stdio') {
    throw usageError('serve', `--transport must be http or stdio, found "${transport}"`);
  }
  const configPath = values.config ?? QUICKSTART_CONFIG;
  const env = values.config === undefined ? prepareQuickstart(io.cwd, io.env) : io.env;
  const loaded: LoadedConfig = loadConfigFile(configPath, {
    env,
    ...(values.bind === undefined ? {} : { overrides: { bindAddress: values.bind } }),
  });
  // The quickstart (no --config) is loopback-only by construction, so running it is the switch.
  const enableFlag = values['enable-remote-mcp'] || values.config === undefined;

  if (values.describe) {
    io.stdout(JSON.stringify(describeServe(loaded, transport, enableFlag), null, 2));
    return EXIT_OK;
  }

  if (transport === 'stdio') return await serveStdio(loaded, io);

  const missing = missingHttpGates(loaded, enableFlag);
  if (missing.length > 0) {
    throw new ConfigError(
      'ConfigRefused',
      missing.map((name) => ({
        path: name.startsWith('--') ? 'serve' : name.replace(/: true$/, ''),
        message: `the HTTP transport needs ${name}`,
        fix: name.startsWith('--')
          ? 'add --enable-remote-mcp to the command line'
          : `set ${name} in ${configPath}`,
      })),
      { source: configPath },
    );
  }
  return await serveHttp(loaded, io, { quickstart: values.config === undefined, env });
}

/** `serve --describe`: the config's description with the route table the server would use. */
function describeServe(
  loaded: LoadedConfig,
  transport: 'http' | 'stdio',
  enableRemoteMcpFlag: boolean,
): Record<string, unknown> {
  const described = describeConfig(loaded, { transport, enableRemoteMcpFlag });
  const live = buildRouteTable(loaded, {
    metadataServed: loaded.config.remote_mcp.auth === 'oauth',
    metricsServed: loaded.derived.metricsListener === 'main',
  }).describe();
  const routes = Array.isArray(described.routes) ? described.routes : [];
  return {
    ...described,
    routes: routes.map((route, index) => ({ ...(route as object), ...live.routes[index] })),
    gateway_endpoints: { ...(described.gateway_endpoints as object), routes: live.endpoints },
  };
}

async function serveHttp(
  loaded: LoadedConfig,
  io: CliIo,
  options: { quickstart: boolean; env: NodeJS.ProcessEnv },
): Promise<number> {
  const logger = createLogger();
  if (options.quickstart) putPackageBinOnPath(process.env);
  const running = await startPortcullis(loaded, { logger, cwd: io.cwd });
  for (const route of running.gateway.routes.routes) {
    io.stderr(
      `portcullis: serving ${running.url}${route.path} -> ${route.name} (${route.transport}, auth: ${loaded.config.remote_mcp.auth})`,
    );
  }
  const authorizationServer = running.authorizationServer;
  if (authorizationServer !== undefined) {
    io.stderr(`portcullis: authorization server ${authorizationServer.issuer}`);
  }
  if (options.quickstart && running.store !== undefined) {
    const admin = await ensureAdminUser(running.store, { env: options.env, now: Date.now() });
    io.stdout(
      quickstartBanner(running.url, running.gateway.routes.routes[0]?.path ?? '/mcp', admin),
    );
  }
  const signal = await (io.waitForShutdown ?? processIo().waitForShutdown ?? neverStops)();
  logger.info({ signal }, 'shutting down');
  await running.close();
  return EXIT_OK;
}

/** What the quickstart prints (README.md): the MCP URL, the admin login, how to connect. */
function quickstartBanner(origin: string, path: string, admin: AdminBootstrap): string {
  const password =
    admin.source === 'generated'
      ? `${admin.password} (one-time: shown only now; set ${ADMIN_PASSWORD_ENV} to choose your own)`
      : admin.source === 'environment'
        ? `from ${ADMIN_PASSWORD_ENV}`
        : `unchanged (set earlier; set ${ADMIN_PASSWORD_ENV} to reset it)`;
  return [
    '',
    'Portcullis quickstart is running.',
    '',
    `  MCP server URL:  ${origin}${path}`,
    `  Sign in as:      ${admin.username}`,
    `  Password:        ${password}`,
    '',
    'Connect a client (opens the browser to sign in, then lists and calls tools):',
    `  npx portcullis call ${origin}${path} echo --args '{"message":"hello"}'`,
    `  npx portcullis connect ${origin}${path}      # stdio bridge for a desktop MCP client`,
    '',
    'Stop with Ctrl-C.',
    '',
  ].join('\n');
}

async function serveStdio(loaded: LoadedConfig, io: CliIo): Promise<number> {
  const streams = io.streams ?? processIo().streams;
  if (streams === undefined) throw new Error('no stdio streams');
  return await runPortcullisStdio(loaded, streams);
}

function neverStops(): Promise<string> {
  return new Promise(() => {});
}
