/**
 * Where the gateway's time goes: runs the HTTP section's load against the gateway started with
 * `node --cpu-prof` (JWT, per-tool policy, rate limits, audit on, default log level), then
 * prints the functions with the most self time and the share of each source file.
 *
 *   node bench/profile.ts [SECONDS] [OUT_DIR] [--modern]   (default 10 s, a temporary directory)
 *
 * With --modern the load is the modern section's stateless MCP 2026-07-28 tools/call (the
 * /modern route, pinned to 2026-07-28, same upstream) instead of a 2025 session's.
 *
 * The .cpuprofile file is kept (open it in Chrome DevTools → Performance, or speedscope).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startChild } from './lib/child.ts';
import { AUDIENCE, benchCredentials, ISSUER, openSession, postHeaders } from './lib/gateway.ts';
import { runLoad } from './lib/load.ts';
import { MODERN_META } from './modern.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
}

const modern = process.argv.includes('--modern');
const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const seconds = Number(positional[0] ?? 10);
const dir = positional[1] ?? mkdtempSync(join(tmpdir(), 'portcullis-profile-'));
const { jwks, token } = await benchCredentials();
const upstream = await startChild('upstream', 'bench/servers/echo-upstream.ts', [], { cores: '0' });
const gateway = await startChild(
  'portcullis',
  'bench/servers/portcullis.ts',
  [String(upstream.port), jwks, ISSUER, AUDIENCE, JSON.stringify({ modern })],
  { cores: '0', nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`] },
);
const url = `http://127.0.0.1:${gateway.port}${modern ? '/modern' : '/mcp'}`;
const headers = modern
  ? {
      ...postHeaders(token),
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
    }
  : { ...postHeaders(token), ...(await openSession(url, postHeaders(token))) };
const body = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'echo',
    arguments: { text: 'hello' },
    ...(modern ? { _meta: MODERN_META } : {}),
  },
});
const cpuBefore = gateway.cpuSeconds();
const load = await runLoad({ url, headers, body, seconds, connections: 32, cores: '1' });
const cpu = gateway.cpuSeconds() - cpuBefore;
await gateway.stop();
await upstream.stop();

const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
const self = new Map<number, number>();
for (const sample of profile.samples) self.set(sample, (self.get(sample) ?? 0) + 1);
const total = profile.samples.length;
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
const root = process.cwd();
for (const node of profile.nodes) {
  const count = self.get(node.id) ?? 0;
  if (count === 0) continue;
  const { functionName, url: source, lineNumber } = node.callFrame;
  const where = source === '' ? '(native)' : relative(root, source.replace(/^file:\/\//, ''));
  const name = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + count);
  byFile.set(where, (byFile.get(where) ?? 0) + count);
}
const top = (map: Map<string, number>, n: number) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, count]) => `${((count / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
console.log(
  `${load.total} requests in ${seconds} s (${load.requestsPerSecond.toFixed(0)}/s, ${load.non2xx} non-2xx), ` +
    `gateway CPU ${((cpu * 1e6) / Math.max(1, load.total)).toFixed(0)} µs/request; profile ${join(dir, file)}`,
);
console.log('\nSelf time by function:');
console.log(top(byFunction, 40).join('\n'));
console.log('\nSelf time by file:');
console.log(top(byFile, 30).join('\n'));
