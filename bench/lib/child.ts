import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A benchmark process: its pid, the port it announced, and how to stop it. */
export interface BenchChild {
  readonly name: string;
  readonly port: number;
  /** The port a target announced with `HOOK <port>` before READY (bench-only memory hook). */
  readonly hookPort: number | undefined;
  readonly process: ChildProcess;
  cpuSeconds(): number;
  rssBytes(): number;
  stop(): Promise<void>;
}

const TASKSET = '/usr/bin/taskset';
const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * Starts `node SCRIPT ARGS` (or another interpreter's) pinned to `cores` (when taskset exists)
 * and waits for it to print `READY <port>` on stdout. The scripts are ours (bench/servers), run
 * from source.
 */
export async function startChild(
  name: string,
  script: string,
  args: readonly string[],
  options: {
    cores?: string;
    env?: NodeJS.ProcessEnv;
    nodeFlags?: readonly string[];
    /** Another interpreter for the script (a peer's Python, say); default: this node. */
    executable?: string;
  } = {},
): Promise<BenchChild> {
  const executable = options.executable ?? process.execPath;
  const programArgs =
    options.executable === undefined
      ? ['--no-warnings', ...(options.nodeFlags ?? []), script, ...args]
      : [script, ...args];
  const pinned = options.cores !== undefined && existsSync(TASKSET);
  const child = pinned
    ? spawn(TASKSET, ['-c', options.cores ?? '0', executable, ...programArgs], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...options.env },
      })
    : spawn(executable, programArgs, {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...options.env },
      });
  let hookPort: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s`)), 30_000);
    lines.on('line', (line) => {
      const hook = /^HOOK (\d+)$/.exec(line.trim());
      if (hook) hookPort = Number(hook[1]);
      const match = /^READY (\d+)$/.exec(line.trim());
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code} before it was ready`)),
    );
  });
  const pid = child.pid ?? 0;
  return {
    name,
    port,
    hookPort,
    process: child,
    cpuSeconds: () => processCpuSeconds(pid),
    rssBytes: () => procRssBytes(pid),
    // SIGTERM, and SIGKILL if it has not exited 5 s later: a server that waits for requests
    // that will never finish (a stalled peer) must not outlive the benchmark.
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** utime + stime of a process (and, through taskset's exec, the node process itself). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function procRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}
