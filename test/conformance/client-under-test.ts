/**
 * The client command the MCP conformance suite runs: `node test/conformance/client-under-test.ts
 * SERVER_URL`. It turns the scenario's context into flags and runs exactly what a user would:
 *
 *   portcullis call SERVER_URL test-tool --open fetch --token-store TMP
 *     --client-metadata-url https://conformance-test.local/client-metadata.json
 *     [--client-id ID --client-secret-env VAR | --private-key-env VAR] [--grant client_credentials]
 *
 * (in this process, through the CLI's own entry function). Secrets travel in environment
 * variables, never in argv.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processIo } from '../../src/cli/io.ts';
import { run } from '../../src/cli/main.ts';

/** The client ID metadata document URL `auth/basic-cimd` expects. */
export const CONFORMANCE_CIMD_URL = 'https://conformance-test.local/client-metadata.json';

interface Context {
  readonly client_id?: string;
  readonly client_secret?: string;
  readonly private_key_pem?: string;
  readonly signing_algorithm?: string;
}

const serverUrl = process.argv.at(-1);
if (serverUrl === undefined || !serverUrl.startsWith('http')) {
  process.stderr.write('usage: client-under-test.ts SERVER_URL\n');
  process.exit(2);
}
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as Context;
const store = mkdtempSync(join(tmpdir(), 'portcullis-conformance-'));
const env: NodeJS.ProcessEnv = { ...process.env };
const argv = [
  'call',
  serverUrl,
  'test-tool',
  '--open',
  'fetch',
  '--token-store',
  store,
  '--client-metadata-url',
  CONFORMANCE_CIMD_URL,
];
if (context.client_id !== undefined) argv.push('--client-id', context.client_id);
if (context.client_secret !== undefined) {
  env.CONFORMANCE_CLIENT_SECRET = context.client_secret;
  argv.push('--client-secret-env', 'CONFORMANCE_CLIENT_SECRET');
}
if (context.private_key_pem !== undefined) {
  env.CONFORMANCE_PRIVATE_KEY = context.private_key_pem;
  argv.push('--private-key-env', 'CONFORMANCE_PRIVATE_KEY');
}
if (scenario.startsWith('auth/client-credentials')) argv.push('--grant', 'client_credentials');

process.stderr.write(`portcullis ${argv.join(' ')}\n`);
const code = await run(argv, { ...processIo(), env });
rmSync(store, { recursive: true, force: true });
process.exitCode = code;
