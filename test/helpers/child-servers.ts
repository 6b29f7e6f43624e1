import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const EVERYTHING_HTTP = fileURLToPath(new URL('./everything-http.ts', import.meta.url));

export interface ChildServer {
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts @modelcontextprotocol/server-everything over Streamable HTTP in a child process on
 * 127.0.0.1 with an ephemeral port, and waits until it listens.
 */
export async function startEverythingHttp(): Promise<ChildServer> {
  const child = spawn(process.execPath, [EVERYTHING_HTTP], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`server-everything did not start: ${text}`)),
      20_000,
    );
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      text += chunk;
      const match = /LISTENING (\d+)/.exec(text);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything exited (${code}): ${text}`));
    });
  });
  child.stderr?.resume();
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
