/**
 * Runs MCP conformance client scenarios one by one (the strict verdict: in suite mode the runner
 * ignores the client's exit code) with a small concurrency, and reads each scenario's checks.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

export interface Check {
  readonly id: string;
  readonly status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  readonly description?: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  /** The runner's exit code for this scenario alone: 0 means passed. */
  readonly exitCode: number;
  readonly passed: number;
  readonly failed: number;
  readonly warnings: number;
  readonly failures: readonly string[];
  readonly output: string;
}

export async function runScenario(
  command: string,
  scenario: string,
  specVersion?: string,
): Promise<ScenarioResult> {
  const out = mkdtempSync(join(tmpdir(), 'portcullis-conformance-out-'));
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        RUNNER,
        'client',
        '--command',
        command,
        '--scenario',
        scenario,
        '-o',
        out,
        '--timeout',
        '60000',
        // At the revision's wire, extension scenarios included (as --requirements runs them).
        ...(specVersion === undefined ? [] : ['--spec-version', specVersion, '--force']),
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.on('close', (exit) => resolve({ code: exit ?? -1, output: text }));
  });
  const checks = readChecks(out);
  rmSync(out, { recursive: true, force: true });
  const failures = checks
    .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
    .map((c) => `${c.id} ${c.status}: ${c.description ?? ''}`);
  return {
    scenario,
    exitCode: code,
    passed: checks.filter((c) => c.status === 'SUCCESS').length,
    failed: checks.filter((c) => c.status === 'FAILURE').length,
    warnings: checks.filter((c) => c.status === 'WARNING').length,
    failures,
    output,
  };
}

export function readChecks(dir: string): Check[] {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter(
    (entry) => entry.isFile() && entry.name === 'checks.json',
  );
  return files.flatMap(
    (entry) => JSON.parse(readFileSync(join(entry.parentPath, entry.name), 'utf8')) as Check[],
  );
}

/**
 * Runs scenarios with at most `concurrency` at a time, results in input order. `command` is one
 * client command, or one per scenario.
 */
export async function runAll(
  command: string | ((scenario: string) => string),
  scenarios: readonly string[],
  concurrency = 3,
  specVersion?: string,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = new Array(scenarios.length);
  const commandFor = typeof command === 'string' ? () => command : command;
  let next = 0;
  const worker = async () => {
    while (next < scenarios.length) {
      const index = next++;
      const scenario = scenarios[index];
      if (scenario !== undefined) {
        results[index] = await runScenario(commandFor(scenario), scenario, specVersion);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** One line per scenario: verdict, scenario, checks passed / failed / warnings. */
export function scenarioTable(title: string, results: readonly ScenarioResult[]): string {
  const width = Math.max(...results.map((r) => r.scenario.length), 8);
  const lines = results.map(
    (r) =>
      `  ${r.exitCode === 0 && r.failed + r.warnings === 0 ? 'PASS' : 'FAIL'}  ${r.scenario.padEnd(width)}  ${r.passed} passed, ${r.failed} failed, ${r.warnings} warnings`,
  );
  const passed = results.filter((r) => r.exitCode === 0 && r.failed + r.warnings === 0).length;
  return `${title}: ${passed}/${results.length} scenarios passed\n${lines.join('\n')}`;
}
