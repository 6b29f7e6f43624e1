import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Who holds a TCP port, where the system tells it: Linux lists listening sockets in
 * /proc/net/tcp{,6} (state 0A is LISTEN) by inode, and each process's open sockets as
 * /proc/PID/fd links to `socket:[INODE]` (readable for the user's own processes); failing that,
 * `ss -ltnpH` says the same. Best effort: undefined when neither tells.
 */
export interface PortHolder {
  readonly pid: number;
  /** The command line, shortened. */
  readonly command: string;
}

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] !== '0A') continue;
      const hexPort = local.slice(local.lastIndexOf(':') + 1);
      if (Number.parseInt(hexPort, 16) === port && fields[9] !== undefined) inodes.add(fields[9]);
    }
  }
  return inodes;
}

function commandOf(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const text = argv.join(' ');
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    return '';
  }
}

function fromProc(port: number): PortHolder | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) {
        return { pid: Number(pid), command: commandOf(Number(pid)) };
      }
    }
  }
  return undefined;
}

function fromSs(port: number): PortHolder | undefined {
  let text: string;
  try {
    text = execFileSync('ss', ['-ltnpH', `sport = :${port}`], {
      encoding: 'utf8',
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
  const match = /users:\(\("([^"]*)",pid=(\d+)/.exec(text);
  if (match === null) return undefined;
  const pid = Number(match[2]);
  return { pid, command: commandOf(pid) || (match[1] ?? '') };
}

export function findPortHolder(port: number): PortHolder | undefined {
  return fromProc(port) ?? fromSs(port);
}

/** The first port after `port` that can be bound on `host` now (a suggestion, not a promise). */
export async function nextFreePort(host: string, port: number): Promise<number | undefined> {
  for (let candidate = port + 1; candidate <= Math.min(65_535, port + 20); candidate++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ host, port: candidate, exclusive: true }, () => {
        probe.close(() => resolve(true));
      });
    });
    if (free) return candidate;
  }
  return undefined;
}
