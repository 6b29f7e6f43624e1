import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundled quickstart config; the same relative path works from src/cli and dist/cli. */
export const QUICKSTART_CONFIG = fileURLToPath(
  new URL('../../examples/quickstart.yaml', import.meta.url),
);

export const QUICKSTART_SECRET_ENV = 'PORTCULLIS_TOKEN_HMAC_SECRET';
/** Where the quickstart keeps its token-id secret, relative to the directory it runs in. */
export const QUICKSTART_SECRET_FILE = join('data', 'token-id-hmac.secret');

/**
 * Prepares the quickstart's local state under ./data: a token-id HMAC secret generated once
 * (file mode 0600), unless the environment already provides one. Returns the environment the
 * quickstart config is loaded with.
 */
export function prepareQuickstart(cwd: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env[QUICKSTART_SECRET_ENV]) return env;
  const dataDir = join(cwd, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secretFile = join(cwd, QUICKSTART_SECRET_FILE);
  if (!existsSync(secretFile)) {
    writeFileSync(secretFile, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  return { ...env, [QUICKSTART_SECRET_ENV]: readFileSync(secretFile, 'utf8').trim() };
}

/** The package's own node_modules/.bin, where the quickstart's upstream (server-everything) is. */
export const PACKAGE_BIN = fileURLToPath(new URL('../../node_modules/.bin', import.meta.url));

/**
 * The quickstart runs `mcp-server-everything`, a dependency of this package. Stdio children get
 * the gateway's PATH (and nothing else of its environment), so the package's bin folder goes
 * first on it, whether the quickstart was started by `npm start` or as `portcullis serve`.
 */
export function putPackageBinOnPath(env: NodeJS.ProcessEnv): void {
  const current = env.PATH ?? '';
  if (!current.split(delimiter).includes(PACKAGE_BIN)) {
    env.PATH = current === '' ? PACKAGE_BIN : `${PACKAGE_BIN}${delimiter}${current}`;
  }
}
