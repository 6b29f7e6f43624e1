import type { LoadedConfig } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { findPortHolder, nextFreePort } from './port-holder.ts';

/**
 * A listener that cannot bind, as a start-up error with a `fix:` line: which address, why (in
 * use — by which process, where the system tells it —, not permitted, not on this machine), and
 * what to type instead. Undefined for any other error.
 */
export async function explainListenFailure(
  error: unknown,
  loaded: LoadedConfig,
  source: string,
  /** How the user runs `serve` from where they stand (`portcullis serve`, `node …/main.ts serve`). */
  serve = 'portcullis serve',
): Promise<ConfigError | undefined> {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return undefined;
  const failedPort = (error as { port?: number }).port;
  const admin = loaded.derived.admin;
  const isAdmin =
    admin !== undefined && failedPort === admin.port && failedPort !== loaded.derived.bind.port;
  const bind = isAdmin && admin !== undefined ? admin : loaded.derived.bind;
  const key = isAdmin ? 'remote_mcp.admin_bind_address' : 'remote_mcp.bind_address';
  const host = bind.host.includes(':') ? `[${bind.host}]` : bind.host;
  const address = `${host}:${bind.port}`;
  const free = code === 'EADDRNOTAVAIL' ? undefined : await nextFreePort(bind.host, bind.port);
  const other = `${host}:${free ?? bind.port + 1}`;
  const instead = isAdmin
    ? `set ${key} to another port in ${source}, e.g. ${other}${free === undefined ? '' : ' (free now)'}`
    : `${serve} --bind ${other}${source.endsWith('quickstart.yaml') ? '' : ` --config ${source}`}${free === undefined ? '' : '   (that port is free now)'}`;
  let message: string;
  let fix: string;
  if (code === 'EADDRINUSE') {
    const holder = findPortHolder(bind.port);
    message = `${address} is already in use${
      holder === undefined
        ? ' by another process (the system did not say which; try: ss -ltnp)'
        : ` by process ${holder.pid}${holder.command ? ` (${holder.command})` : ''}`
    }`;
    fix = `stop that process, or listen on another port: ${instead}`;
  } else if (code === 'EACCES') {
    message = `${address} may not be bound by this user (ports below 1024 need privileges)`;
    fix = `listen on a port above 1023: ${instead}`;
  } else {
    message = `${bind.host} is not an address of this machine`;
    fix = `listen on an address this machine has, e.g. 127.0.0.1: ${serve} --bind 127.0.0.1:${bind.port}`;
  }
  return new ConfigError('ListenFailed', [{ path: key, message, fix }], {
    source,
    cause: error,
  });
}
