import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly total: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly seconds: number;
  readonly connections: number;
  /** Fixed total request rate; omit for closed-loop (fixed concurrency). */
  readonly rate?: number;
  /** Cores for the load generator (taskset -c). */
  readonly cores?: string;
  /** Present a DPoP-bound token with a fresh proof per request. */
  readonly dpop?: {
    readonly privateJwk: object;
    readonly publicJwk: object;
    readonly token: string;
  };
}

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

/** Runs the load worker in a separate process, pinned away from the server under test. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { cores: _cores, ...workerOptions } = options;
  const config = JSON.stringify(workerOptions);
  const nodeArgs = ['--no-warnings', WORKER, config];
  const [file, args] =
    options.cores !== undefined && existsSync('/usr/bin/taskset')
      ? ['/usr/bin/taskset', ['-c', options.cores, process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { maxBuffer: 1 << 20, timeout: (options.seconds + 30) * 1000 },
      (error, stdout) => {
        if (error) reject(error);
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as LoadResult);
      },
    );
  });
}
