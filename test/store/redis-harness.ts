/**
 * Starts real Redis servers for tests: one standalone `redis-server`, or a three-master Redis
 * Cluster formed with `redis-cli --cluster create`. Each listens on 127.0.0.1 only, on ports
 * picked free by the OS for this run, with its files in a temp directory; each is stopped by
 * its PID. No persistence unless asked (the tests that restart Redis ask for AOF).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return probe.status === 0
    ? undefined
    : 'redis-server is not installed (apt-get install redis-server; .ci/run does it)';
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** SIGTERM by PID, and waits for the exit. */
  stop(): Promise<void>;
  /** Stops it and deletes its directory (its data with it). */
  remove(): Promise<void>;
  /** Starts the same server again (same port, same directory, so AOF data comes back). */
  restart(): Promise<void>;
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (pattern.test(seen)) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`${what} exited (${code}) before ready:\n${seen}`)),
    );
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid as number, 'SIGTERM');
  });
}

/** Starts one redis-server. Extra arguments are passed as they are. */
export async function startRedis(
  options: {
    extraArgs?: readonly string[];
    port?: number;
    dir?: string;
    aof?: boolean;
    /** Arguments before the options (a config file, `--sentinel`). */
    leading?: readonly string[];
    /** What the log says when it is ready (default: a server's "Ready to accept connections"). */
    ready?: RegExp;
  } = {},
): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  const ready = options.ready ?? /Ready to accept connections/;
  const args = [
    ...(options.leading ?? []),
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.aof ? 'yes' : 'no',
    ...(options.aof ? ['--appendfsync', 'always'] : []),
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...(options.extraArgs ?? []),
  ];
  let child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitForLine(child, ready, `redis-server on ${port}`);
  const handle: RedisProcess = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid ?? -1;
    },
    dir,
    stop: () => stopChild(child),
    async remove() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stopChild(child);
      child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      await waitForLine(child, ready, `redis-server on ${port}`);
    },
  };
  return handle;
}

export interface RedisCluster {
  readonly nodes: readonly RedisProcess[];
  /** A seed node URL: the client discovers the rest. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Three masters, no replicas, slots spread by `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisProcess[] = [];
  for (let index = 0; index < 3; index++) {
    // The cluster bus needs its own port; pick it free too rather than rely on port + 10000.
    const busPort = await freePort();
    nodes.push(
      await startRedis({
        extraArgs: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '3000',
        ],
      }),
    );
  }
  const stopAll = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
  };
  const create = spawnSync(
    REDIS_CLI,
    [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  if (create.status !== 0) {
    await stopAll();
    throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
  }
  // The masters agree on the slot map through the bus; wait until each says the cluster is ok.
  for (const node of nodes) {
    for (;;) {
      const info = spawnSync(REDIS_CLI, ['-p', String(node.port), 'cluster', 'info'], {
        encoding: 'utf8',
      });
      if (/cluster_state:ok/.test(info.stdout)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { nodes, url: nodes[0]?.url ?? '', stop: stopAll };
}

/** A RedisSettings-shaped object for tests, with a fresh key prefix (so stores never share keys). */
let prefixes = 0;
export function testSettings(
  url: string,
  overrides: { cluster?: boolean; keyPrefix?: string; commandTimeoutMs?: number } = {},
) {
  return {
    url,
    keyPrefix: overrides.keyPrefix ?? `t${process.pid}-${++prefixes}:`,
    connectTimeoutMs: 2000,
    commandTimeoutMs: overrides.commandTimeoutMs ?? 2000,
    cluster: overrides.cluster ?? false,
  };
}

/** Resolves once the store answers again (its client reconnects by itself after an outage). */
export async function waitUntilAnswering(store: {
  schemaVersion(): Promise<number>;
}): Promise<void> {
  for (;;) {
    try {
      await store.schemaVersion();
      return;
    } catch {
      // StoreUnavailableError while the client is still reconnecting.
    }
  }
}
