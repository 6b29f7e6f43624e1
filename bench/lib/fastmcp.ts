/**
 * The FastMCP peer's environment: a Python virtual environment with FastMCP 4 from PyPI, made
 * on first use under the user's cache directory (~/.cache/portcullis-bench) and reused
 * afterwards (installing took minutes here).
 * When Python, venv or PyPI is not available, the benchmark says why and runs without the peer.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The release line the peer is measured at (PyPI: fastmcp). */
export const FASTMCP_REQUIREMENT = 'fastmcp>=4,<5';
const VENV = join(
  process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
  'portcullis-bench',
  'fastmcp-venv',
);
export const FASTMCP_SCRIPT = fileURLToPath(
  new URL('../servers/fastmcp_proxy.py', import.meta.url),
);

export type FastMcpPeer =
  | { readonly available: true; readonly python: string; readonly version: string }
  | { readonly available: false; readonly reason: string };

function run(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      if (error) {
        const detail = `${stderr}`.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
        reject(new Error(detail || error.message));
      } else resolve(`${stdout}`.trim());
    });
  });
}

/** Creates (or reuses) the virtual environment and installs FastMCP 4 into it. */
export async function prepareFastMcp(): Promise<FastMcpPeer> {
  const python = join(VENV, 'bin', 'python');
  try {
    if (!existsSync(python)) await run('python3', ['-m', 'venv', VENV], 120_000);
  } catch (error) {
    return { available: false, reason: `python3 -m venv failed: ${(error as Error).message}` };
  }
  const installed = await run(python, ['-c', 'import fastmcp; print(fastmcp.__version__)'], 60_000)
    .then((version) => (version.startsWith('4.') ? version : undefined))
    .catch(() => undefined);
  if (installed !== undefined) return { available: true, python, version: installed };
  try {
    await run(
      python,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', FASTMCP_REQUIREMENT],
      600_000,
    );
    const version = await run(python, ['-c', 'import fastmcp; print(fastmcp.__version__)'], 60_000);
    return { available: true, python, version };
  } catch (error) {
    return {
      available: false,
      reason: `pip install '${FASTMCP_REQUIREMENT}' failed: ${(error as Error).message}`,
    };
  }
}
