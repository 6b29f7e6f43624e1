import type { Readable, Writable } from 'node:stream';

/** What a command may touch: its output streams and environment. Injected so tests run in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Raw protocol streams, for `serve --transport stdio`. */
  readonly streams?: { readonly input: Readable; readonly output: Writable };
  /** Resolves with the signal name when the process is asked to stop (SIGTERM, SIGINT). */
  readonly waitForShutdown?: () => Promise<string>;
}

/** Exit codes (documented in --help): 0 success, 1 runtime failure, 2 usage or config error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    env: process.env,
    cwd: process.cwd(),
    // A getter: touching process.stdin creates a handle that only the stdio transport needs.
    get streams() {
      return { input: process.stdin, output: process.stdout };
    },
    waitForShutdown: () =>
      new Promise((resolve) => {
        const stop = (signal: string) => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          resolve(signal);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      }),
  };
}
