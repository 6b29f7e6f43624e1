/**
 * Runs MCP conformance client scenarios one by one (the strict verdict: in suite mode the runner
 * ignores the client's exit code) with a small concurrency, and reads each scenario's checks.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
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

export async function runScenario(command: string, scenario: string): Promise<ScenarioResult> {
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

function readChecks(dir: string): Check[] {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter(
    (entry) => entry.isFile() && entry.name === 'checks.json',
  );
  return files.flatMap(
    (entry) => JSON.parse(readFileSync(join(entry.parentPath, entry.name), 'utf8')) as Check[],
  );
}

/** Runs scenarios with at most `concurrency` at a time, results in input order. */
export async function runAll(
  command: string,
  scenarios: readonly string[],
  concurrency = 3,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = new Array(scenarios.length);
  let next = 0;
  const worker = async () => {
    while (next < scenarios.length) {
      const index = next++;
      const scenario = scenarios[index];
      if (scenario !== undefined) results[index] = await runScenario(command, scenario);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}
