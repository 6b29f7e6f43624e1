/**
 * The client command the MCP conformance suite runs: `node test/conformance/client-under-test.ts
 * SERVER_URL`. It runs exactly what a user would, in this process through the CLI's own entry
 * function:
 *
 *   portcullis call SERVER_URL test-tool --open fetch --token-store TMP
 *     --client-metadata-url https://conformance-test.local/client-metadata.json
 *     [--client-id ID --client-secret-env VAR | --private-key-env VAR] [--grant client_credentials]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.ts';
import { scenarioFlags } from './scenario-flags.ts';

const serverUrl = process.argv.at(-1);
if (serverUrl === undefined || !serverUrl.startsWith('http')) {
  process.stderr.write('usage: client-under-test.ts SERVER_URL\n');
  process.exit(2);
}
const store = mkdtempSync(join(tmpdir(), 'portcullis-conformance-'));
const { flags, env } = scenarioFlags(
  process.env.MCP_CONFORMANCE_SCENARIO ?? '',
  process.env.MCP_CONFORMANCE_CONTEXT,
  store,
);
const argv = ['call', serverUrl, 'test-tool', ...flags];
process.stderr.write(`portcullis ${argv.join(' ')}\n`);
const code = await cli.run(argv, { ...cli.processIo(), env: { ...process.env, ...env } });
rmSync(store, { recursive: true, force: true });
process.exitCode = code;
