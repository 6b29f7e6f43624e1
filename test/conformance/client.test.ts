import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { REPO_ROOT, runAll, type ScenarioResult, scenarioTable } from './run-scenarios.ts';

/**
 * The client scenarios @modelcontextprotocol/conformance 0.2.0-alpha.12 requires for a
 * specification revision, read from the requirement files the pinned package ships (frozen per
 * revision), each run at that revision's wire:
 * - the auth scenarios through `portcullis call URL test-tool` (client-under-test.ts);
 * - the transport scenarios through `portcullis connect URL` with an official SDK client on
 *   stdio, 2025 or 2026-07-28 depending on the scenario (transport-under-test.ts).
 * Plus the client-credentials extension scenarios (scored by this project, not by the suite),
 * the 2025-03-26 backward-compatibility scenarios, and a set of auth scenarios through
 * `portcullis connect` (bridge-under-test.ts).
 */
function required(revision: string): string[] {
  const file = join(
    REPO_ROOT,
    'node_modules/@modelcontextprotocol/conformance/requirements',
    `${revision}.yaml`,
  );
  return (parse(readFileSync(file, 'utf8')) as { client: string[] }).client;
}

export const CLIENT_CREDENTIALS = ['auth/client-credentials-jwt', 'auth/client-credentials-basic'];
export const BACKCOMPAT = [
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
];
/** Each discovery shape, step-up, the registration kinds and both grants through the relay. */
export const BRIDGE_SCENARIOS = [
  'auth/metadata-default',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-step-up',
  'auth/token-endpoint-auth-basic',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/client-credentials-jwt',
];

const CALL = 'node test/conformance/client-under-test.ts';
const TRANSPORT = 'node test/conformance/transport-under-test.ts';
const BRIDGE = 'node test/conformance/bridge-under-test.ts';
const commandFor = (scenario: string) => (scenario.startsWith('auth/') ? CALL : TRANSPORT);

function assertPassed(result: ScenarioResult | undefined, scenario: string): void {
  assert.ok(result, `${scenario} ran`);
  assert.equal(
    result.exitCode,
    0,
    `${scenario} failed:\n${result.failures.join('\n')}\n${result.output.slice(-3000)}`,
  );
  assert.equal(result.failed + result.warnings, 0, result.failures.join('\n'));
  assert.ok(result.passed > 0, `${scenario} passed no check`);
}

const RUNS = [
  {
    title: 'MCP conformance 0.2.0-alpha.12, client, --requirements 2026-07-28',
    revision: '2026-07-28',
    scenarios: [...required('2026-07-28'), ...CLIENT_CREDENTIALS],
    command: commandFor,
  },
  {
    title: 'MCP conformance 0.2.0-alpha.12, client, --requirements 2025-11-25',
    revision: '2025-11-25',
    scenarios: [...required('2025-11-25'), ...CLIENT_CREDENTIALS],
    command: commandFor,
  },
  {
    title: 'MCP conformance 0.2.0-alpha.12, client, 2025-03-26 backward compatibility',
    revision: '2025-03-26',
    scenarios: BACKCOMPAT,
    command: commandFor,
  },
  {
    title:
      'MCP conformance 0.2.0-alpha.12, auth through `portcullis connect` (SDK client on stdio)',
    revision: '2025-11-25',
    scenarios: BRIDGE_SCENARIOS,
    command: () => BRIDGE,
  },
] as const;

for (const run of RUNS) {
  describe(run.title, () => {
    let results: Map<string, ScenarioResult>;
    before(async () => {
      const all = await runAll(run.command, run.scenarios, 3, run.revision);
      results = new Map(all.map((r) => [r.scenario, r]));
      console.log(scenarioTable(run.title, all));
    });
    it('runs the whole required set (positive control: the set is not empty)', () => {
      assert.ok(run.scenarios.length >= (run.revision === '2026-07-28' ? 34 : 2));
    });
    for (const scenario of run.scenarios) {
      it(scenario, () => assertPassed(results.get(scenario), scenario));
    }
  });
}
