import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runAll, type ScenarioResult } from './run-scenarios.ts';

/** Every scenario of `--suite auth` in @modelcontextprotocol/conformance 0.1.16. */
export const AUTH_SUITE = [
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
];
export const BACKCOMPAT = [
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
];
export const CLIENT_CREDENTIALS = ['auth/client-credentials-jwt', 'auth/client-credentials-basic'];
/** Draft scenarios: not required by the issue, run because they pass. */
export const DRAFT = [
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
];

const CALL = 'node test/conformance/client-under-test.ts';

describe('MCP conformance 0.1.16, client auth scenarios, through `portcullis call … test-tool`', () => {
  const scenarios = [...AUTH_SUITE, ...BACKCOMPAT, ...CLIENT_CREDENTIALS, ...DRAFT];
  let results: Map<string, ScenarioResult>;
  before(async () => {
    const all = await runAll(CALL, scenarios);
    results = new Map(all.map((r) => [r.scenario, r]));
    const passed = all.filter((r) => r.exitCode === 0).length;
    const checks = all.reduce((sum, r) => sum + r.passed, 0);
    console.log(`conformance: ${passed}/${all.length} scenarios passed, ${checks} checks passed`);
  });
  for (const scenario of scenarios) {
    it(scenario, () => {
      const result = results.get(scenario);
      assert.ok(result, 'ran');
      assert.equal(
        result.exitCode,
        0,
        `${scenario} failed:\n${result.failures.join('\n')}\n${result.output.slice(-3000)}`,
      );
      assert.equal(result.failed + result.warnings, 0);
      assert.ok(result.passed > 0);
    });
  }
});

/**
 * The same dance behind `portcullis connect`, driven by the official SDK client over stdio. The
 * authorization code path is the one `call` uses; these scenarios cover each discovery shape,
 * step-up, the registration kinds and both grants through the relay.
 */
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

describe('MCP conformance 0.1.16 through `portcullis connect` (official SDK client over stdio)', () => {
  let results: Map<string, ScenarioResult>;
  before(async () => {
    const all = await runAll('node test/conformance/bridge-under-test.ts', BRIDGE_SCENARIOS);
    results = new Map(all.map((r) => [r.scenario, r]));
    const passed = all.filter((r) => r.exitCode === 0).length;
    console.log(
      `conformance via connect: ${passed}/${all.length} scenarios passed, ${all.reduce((s, r) => s + r.passed, 0)} checks passed`,
    );
  });
  for (const scenario of BRIDGE_SCENARIOS) {
    it(scenario, () => {
      const result = results.get(scenario);
      assert.ok(result, 'ran');
      assert.equal(
        result.exitCode,
        0,
        `${scenario} failed:\n${result.failures.join('\n')}\n${result.output.slice(-3000)}`,
      );
      assert.equal(result.failed + result.warnings, 0);
    });
  }
});
