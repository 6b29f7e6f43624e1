import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The CLI as users get it: the `portcullis` bin that package.json declares, taken at its source
 * (the build's dist/…/x.js is compiled from src/…/x.ts). CLI tests run it as a process, or call
 * its entry function in this process; nothing else in the tests reaches into the CLI's modules.
 */
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: { portcullis: string };
};
export const CLI_ENTRY = join(
  REPO_ROOT,
  PACKAGE.bin.portcullis.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'),
);

/** What the CLI's entry function takes: its output, environment and (optional) input. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly streams?: { readonly input: Readable; readonly output: Writable };
  readonly waitForShutdown?: () => Promise<string>;
  readonly readStdin?: () => Promise<string>;
}

/** The bin's entry function `run(argv, io)` and its `processIo()`, loaded from the bin's source. */
export const cli = {
  ...((await import(pathToFileURL(CLI_ENTRY).href)) as {
    run: (argv: readonly string[], io?: CliIo) => Promise<number>;
  }),
  ...((await import(new URL('./io.ts', pathToFileURL(CLI_ENTRY)).href)) as {
    processIo: () => CliIo;
  }),
};
const { run } = cli;

/** A token-id secret long enough for the rules. */
export const HMAC_SECRET = 'test-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process, capturing its output. */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  cwd = REPO_ROOT,
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (text) => {
      stdout += `${text}\n`;
    },
    stderr: (text) => {
      stderr += `${text}\n`;
    },
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

/** Runs the CLI as a real child process (exit codes, entry-point detection). */
export function spawnCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  cwd = REPO_ROOT,
): CliResult {
  const result = spawnSync(process.execPath, [CLI_ENTRY, ...argv], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Writes text to a fresh temporary file and returns its path. */
export function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'portcullis-test-'));
}

/** Runs the CLI as a child process without blocking this one, so several can run at once. */
export function spawnCliAsync(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  cwd = REPO_ROOT,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...argv], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
