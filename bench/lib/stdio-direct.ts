/**
 * The baseline of the stdio start-up benchmark, run as its own process pinned to the gateway's
 * core: spawns the MCP server directly, as the gateway does (no shell, only PATH in the
 * environment), writes initialize on its stdin and times until the answer line arrives; then
 * closes stdin and waits for the exit, untimed. argv[2]: JSON {command, args}. Each line `run`
 * on stdin starts one session and is answered with one line: the milliseconds it took. So the
 * bench can alternate it session by session with the gateway.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { initializeBody } from './gateway.ts';

const { command, args } = JSON.parse(process.argv[2] ?? '{}') as {
  command: string;
  args: string[];
};
const env: Record<string, string> =
  process.env.PATH === undefined ? {} : { PATH: process.env.PATH };

async function session(id: number): Promise<number> {
  const started = performance.now();
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'ignore'], shell: false });
  child.stdin.write(`${initializeBody(id)}\n`);
  const lines = createInterface({ input: child.stdout });
  const [line] = (await once(lines, 'line')) as [string];
  const elapsed = performance.now() - started;
  if (!line.includes('"result"')) throw new Error(`initialize failed: ${line}`);
  const exited = once(child, 'close');
  child.stdin.end();
  await exited;
  return elapsed;
}

let count = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'run') continue;
  process.stdout.write(`${await session(count++)}\n`);
}
