/**
 * `node stdio-recorder.ts RECORD_FILE COMMAND [ARGS…]`: runs an MCP server over stdio, appending
 * every line the gateway writes to it to RECORD_FILE before passing it on. Lets a test prove
 * what reached a third-party server (such as server-everything) and what did not.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';

const [record, command, ...args] = process.argv.slice(2);
if (record === undefined || command === undefined) {
  process.stderr.write('usage: stdio-recorder.ts RECORD_FILE COMMAND [ARGS…]\n');
  process.exit(2);
}
writeFileSync(record, '', { flag: 'a' });
const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'], env: process.env });
process.stdin.on('data', (chunk: Buffer) => {
  appendFileSync(record, chunk);
  child.stdin.write(chunk);
});
process.stdin.on('end', () => child.stdin.end());
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === null ? 1 : 128));
});
