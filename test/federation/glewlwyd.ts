/**
 * Glewlwyd (Debian package `glewlwyd`, a standalone C OpenID Connect server) started for one
 * test: its own SQLite database from the package's schema, its own configuration derived from
 * the package's, a loopback ephemeral port; then, through its admin API, an OpenID Connect
 * plugin instance (RS256, PKCE), users and a confidential client. Its login web app is served
 * the way the package's README.Debian recommends: by a static file server in front (here a small
 * one in this process) that proxies /api and /config to Glewlwyd.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { gunzipSync } from 'node:zlib';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { tempDir } from '../helpers/cli.ts';

export const GLEWLWYD = '/usr/bin/glewlwyd';
const PACKAGE_CONFIG = '/etc/glewlwyd/glewlwyd.conf';
const SCHEMA = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const WEBAPP = '/usr/share/glewlwyd/webapp';
/** The package's default administrator (GETTING_STARTED.md), in the fresh database only. */
const ADMIN = { username: 'admin', password: 'password' };

export const SKIP_WITHOUT_GLEWLWYD =
  existsSync(GLEWLWYD) && existsSync(SCHEMA)
    ? false
    : `no Glewlwyd at ${GLEWLWYD} (.ci/run installs the glewlwyd package): test skipped`;

export interface GlewlwydUser {
  readonly username: string;
  readonly password: string;
  readonly name: string;
  readonly email: string;
}

export type Forgery = 'nonce' | 'aud' | 'iss' | undefined;

export interface Glewlwyd {
  /** The OpenID Connect issuer (the plugin's `iss`). */
  readonly issuer: string;
  /** Access tokens Glewlwyd's token endpoint handed out. */
  readonly issuedAccessTokens: Set<string>;
  /**
   * The ID token of the next token responses is forged this way by the front server: claims
   * changed and re-signed with Glewlwyd's own key, as a misbehaving provider would send it.
   */
  forge: Forgery;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'application/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.svg': 'image/svg+xml',
};

interface FrontState {
  forge: Forgery;
  readonly issued: Set<string>;
  signingKey: KeyObject | undefined;
}

/** A token response from Glewlwyd, noted, and its ID token forged when asked. */
async function rewriteTokenResponse(body: Buffer, state: FrontState): Promise<Buffer> {
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return body;
  }
  if (typeof answer.access_token === 'string') state.issued.add(answer.access_token);
  if (state.forge === undefined || typeof answer.id_token !== 'string') return body;
  if (state.signingKey === undefined) return body;
  const claims = decodeJwt(answer.id_token);
  const forged = {
    ...claims,
    ...(state.forge === 'nonce' ? { nonce: 'a-nonce-from-another-sign-in' } : {}),
    ...(state.forge === 'aud' ? { aud: 'some-other-client' } : {}),
    ...(state.forge === 'iss' ? { iss: 'http://127.0.0.1:1/impostor' } : {}),
  };
  answer.id_token = await new SignJWT(forged)
    .setProtectedHeader(decodeProtectedHeader(answer.id_token) as { alg: string })
    .sign(state.signingKey);
  return Buffer.from(JSON.stringify(answer));
}

/** The webapp's files (symlinks into other Debian packages followed) and /api proxied. */
function frontServer(glewlwydPort: () => number, state: FrontState): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (
      url.pathname.startsWith('/api/') ||
      url.pathname === '/config' ||
      url.pathname.startsWith('/config/')
    ) {
      const isToken = url.pathname === '/api/oidc/token';
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: glewlwydPort(),
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (answer) => {
          if (!isToken) {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', async () => {
            const body = await rewriteTokenResponse(Buffer.concat(chunks), state);
            const headers = { ...answer.headers, 'content-length': String(body.length) };
            delete headers['transfer-encoding'];
            res.writeHead(answer.statusCode ?? 502, headers);
            res.end(body);
          });
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
      return;
    }
    const relative = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
    let path = join(WEBAPP, relative === '/' ? 'index.html' : relative);
    if (!path.startsWith(WEBAPP) || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    // The package ships config.json as a directory holding the file (a packaging quirk).
    if (statSync(path).isDirectory()) path = join(path, relative.split('/').pop() ?? '');
    if (!existsSync(path) || statSync(path).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(path)] ?? 'application/octet-stream' });
    res.end(readFileSync(path));
  });
}

/** The package's configuration with this test's port, URL, database and console logging. */
function configText(options: { port: number; externalUrl: string; database: string }): string {
  const lines = readFileSync(PACKAGE_CONFIG, 'utf8').split('\n');
  const replaced = lines.map((line) => {
    if (/^port=/.test(line)) return `port=${options.port}`;
    if (/^#?\s*bind_address=/.test(line)) return 'bind_address="127.0.0.1"';
    if (/^external_url=/.test(line)) return `external_url="${options.externalUrl}"`;
    if (/^log_mode=/.test(line)) return 'log_mode="console"';
    if (/^log_level=/.test(line)) return 'log_level="WARNING"';
    if (/^@include/.test(line)) {
      return `database = { type = "sqlite3" path = "${options.database}" };`;
    }
    return line;
  });
  return replaced.join('\n');
}

async function adminSession(base: string): Promise<string> {
  const response = await fetch(`${base}/api/auth/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  if (response.status !== 200) throw new Error(`glewlwyd admin login: ${response.status}`);
  const cookie = response.headers.get('set-cookie')?.split(';')[0];
  if (cookie === undefined) throw new Error('glewlwyd admin login: no session cookie');
  return cookie;
}

async function adminPost(base: string, cookie: string, path: string, body: unknown) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify(body),
  });
  if (response.status !== 200) {
    throw new Error(`glewlwyd POST ${path}: ${response.status} ${await response.text()}`);
  }
}

export async function startGlewlwyd(options: {
  readonly redirectUri: string;
  readonly users: readonly GlewlwydUser[];
}): Promise<Glewlwyd> {
  const dir = tempDir();
  const database = join(dir, 'glewlwyd.db');
  const db = new DatabaseSync(database);
  db.exec(gunzipSync(readFileSync(SCHEMA)).toString('utf8'));
  db.close();

  const port = await freePort();
  const frontState: FrontState = { forge: undefined, issued: new Set(), signingKey: undefined };
  const front = frontServer(() => port, frontState);
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const config = join(dir, 'glewlwyd.conf');
  writeFileSync(config, configText({ port, externalUrl: base, database }));

  let log = '';
  const child: ChildProcess = spawn(GLEWLWYD, ['-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    log += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    log += chunk;
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`glewlwyd exited ${code}: ${log}`));
      child.once('exit', onExit);
      const poll = async () => {
        const ready = await fetch(`${base}/config`).then(
          (response) => response.ok,
          () => false,
        );
        if (ready) {
          child.off('exit', onExit);
          resolve();
        } else {
          setTimeout(poll, 100);
        }
      };
      void poll();
    });

    const issuer = `${base}/api/oidc`;
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    frontState.signingKey = keys.privateKey;
    const cookie = await adminSession(base);
    await adminPost(base, cookie, '/api/mod/plugin/', {
      module: 'oidc',
      name: 'oidc',
      display_name: 'OpenID Connect',
      enabled: true,
      parameters: {
        iss: issuer,
        'jwt-type': 'rsa',
        'jwt-key-size': '256',
        key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: keys.publicKey.export({ type: 'spki', format: 'pem' }),
        'access-token-duration': 3600,
        'refresh-token-duration': 86_400,
        'code-duration': 600,
        'refresh-token-rolling': true,
        'allow-non-oidc': false,
        'auth-type-code-enabled': true,
        'auth-type-refresh-enabled': true,
        'auth-type-client-enabled': false,
        'auth-type-token-enabled': false,
        'auth-type-id-token-enabled': false,
        'auth-type-password-enabled': false,
        'auth-type-none-enabled': false,
        'auth-type-device-enabled': false,
        'pkce-allowed': true,
        'pkce-method-plain-allowed': false,
        'allowed-scope': ['openid'],
        'jwks-show': true,
        'name-claim': 'mandatory',
        'email-claim': 'mandatory',
        'secret-type': 'public',
        claims: [],
        scope: [],
        'additional-parameters': [],
      },
    });
    for (const user of options.users) {
      await adminPost(base, cookie, '/api/user/', { ...user, scope: ['openid'], enabled: true });
    }
    const clientId = 'portcullis';
    const clientSecret = 'portcullis-at-glewlwyd-secret-0123456789';
    await adminPost(base, cookie, '/api/client/', {
      client_id: clientId,
      name: 'Portcullis',
      confidential: true,
      password: clientSecret,
      redirect_uri: [options.redirectUri],
      authorization_type: ['code', 'refresh_token'],
      token_endpoint_auth_method: ['client_secret_basic'],
      scope: ['openid'],
      enabled: true,
    });
    return {
      issuer,
      clientId,
      clientSecret,
      issuedAccessTokens: frontState.issued,
      get forge() {
        return frontState.forge;
      },
      set forge(value: Forgery) {
        frontState.forge = value;
      },
      log: () => log,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
