import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayDocument, httpUpstream, startTestGateway } from '../helpers/gateway.ts';
import { startModernUpstream } from '../helpers/modern-upstream.ts';

const CONF = '/tmp/conf/node_modules/@modelcontextprotocol/conformance/dist/index.js';
async function run(url: string, req: string) {
  const dir = mkdtempSync(join(tmpdir(), 'conf-'));
  const child = spawn(
    process.execPath,
    [
      CONF,
      'server',
      '--url',
      url,
      '--requirements',
      req,
      '-o',
      dir,
      '--timeout',
      '10000',
      ...(process.env.SCEN ? ['--scenario', process.env.SCEN] : []),
    ],
    { stdio: 'ignore' },
  );
  await new Promise((r) => child.once('exit', r));
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir)) {
    const checks = JSON.parse(readFileSync(join(dir, entry, 'checks.json'), 'utf8')) as {
      id: string;
      status: string;
    }[];
    const bad = checks.filter((c) => c.status !== 'SUCCESS' && c.status !== 'INFO');
    if (process.env.DETAIL && entry.includes(process.env.DETAIL))
      console.log(
        url,
        JSON.stringify(
          checks.filter((c) => c.status === 'FAILURE'),
          null,
          1,
        ).slice(0, 12000),
      );
    out[entry.replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '')] =
      bad.length === 0 ? 'ok' : bad.map((c) => `${c.id}:${c.status}`).join(',');
  }
  return out;
}
const up = await startModernUpstream();
const gw = await startTestGateway(
  gatewayDocument({
    auth: 'none',
    upstreams: [
      httpUpstream(up.url, {
        tool_scopes: { '*': 'files:read' },
        method_scopes: { resources: 'mcp:resources', prompts: 'mcp:prompts' },
      }),
    ],
  }),
);
const req = process.argv[2] ?? '2026-07-28';
const direct = await run(up.url, req);
const via = await run(gw.url(), req);
for (const k of new Set([...Object.keys(direct), ...Object.keys(via)])) {
  const d = direct[k];
  const v = via[k];
  console.log(
    d === v ? 'SAME' : 'DIFF',
    k,
    '| direct:',
    d?.slice(0, 200),
    '| via:',
    v?.slice(0, 200),
  );
}
await gw.close();
await up.close();
