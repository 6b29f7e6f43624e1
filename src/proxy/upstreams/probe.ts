import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import net from 'node:net';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Readiness probes for upstreams: cheap, bounded, and saying nothing beyond yes or no. An HTTP
 * upstream is ready when its host accepts a TCP connection; a stdio upstream when its command
 * resolves to an executable file (what spawn would run).
 */

const PROBE_TIMEOUT_MS = 2000;

export function tcpReachable(host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS) {
  return new Promise<boolean>((resolvePromise) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when `command` names an executable file, looked up as spawn would (PATH, then cwd). */
export async function commandStartable(
  command: string,
  path: string | undefined,
  cwd: string | undefined,
): Promise<boolean> {
  const base = cwd ?? process.cwd();
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : resolve(base, command)]
    : (path ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(isAbsolute(dir) ? dir : resolve(base, dir), command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return true;
    } catch {
      // Not here; try the next directory.
    }
  }
  return false;
}
