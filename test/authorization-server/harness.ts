/**
 * A real authorization server on a loopback port, with a movable clock, a recording audit sink,
 * and a tiny cookie-keeping browser that walks the login and consent pages over HTTP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { AuditEvent } from '../../src/audit/index.ts';
import {
  type AuthorizationServer,
  type AuthorizationServerDeps,
  createAuthorizationServer,
  setUserPassword,
} from '../../src/authorization-server/index.ts';
import { type LoadedConfig, loadConfigText } from '../../src/config/index.ts';
import type { GuardedFetch } from '../../src/net/index.ts';
import { MemoryStore, SqliteStore, type Store } from '../../src/store/index.ts';
import { HMAC_SECRET, tempDir } from '../helpers/cli.ts';
import { serveWeb, type WebServer } from '../helpers/web-server.ts';

export const PASSWORD = 'correct horse battery staple';
export const CONFIDENTIAL_SECRET = 'confidential-client-secret-0123456789';
export const INITIAL_ACCESS_TOKEN = 'initial-access-token-0123456789abcdef';
export const T0 = Date.UTC(2027, 0, 1);

export type Document = Record<string, unknown> & {
  remote_mcp: Record<string, unknown>;
  authorization_server: Record<string, unknown>;
  development?: Record<string, unknown>;
};

export interface HarnessOptions {
  readonly store?: 'memory' | 'sqlite';
  readonly edit?: (document: Document) => void;
  readonly fetch?: GuardedFetch;
  /** Extra routes the test serves on the same origin (PRM, a protected endpoint). */
  readonly extra?: (request: Request) => Promise<Response | undefined> | Response | undefined;
  /** More dependencies of the server (a DPoP proof checker…), given the test clock. */
  readonly deps?: (clock: Clock) => Partial<AuthorizationServerDeps>;
}

export class Clock {
  now = T0;
  advance(ms: number): void {
    this.now += ms;
  }
}

export class Harness {
  readonly server: WebServer;
  readonly as: AuthorizationServer;
  readonly store: Store;
  readonly loaded: LoadedConfig;
  readonly clock: Clock;
  readonly events: AuditEvent[];

  constructor(fields: {
    server: WebServer;
    as: AuthorizationServer;
    store: Store;
    loaded: LoadedConfig;
    clock: Clock;
    events: AuditEvent[];
  }) {
    this.server = fields.server;
    this.as = fields.as;
    this.store = fields.store;
    this.loaded = fields.loaded;
    this.clock = fields.clock;
    this.events = fields.events;
  }

  get url(): string {
    return this.server.url;
  }
  get issuer(): string {
    return this.as.issuer;
  }
  get resource(): string {
    return `${this.server.url}/mcp`;
  }

  browser(): Browser {
    return new Browser(this.server.url);
  }

  async close(): Promise<void> {
    await this.as.close();
    await this.server.close();
    await this.store.close();
  }

  /** POSTs a form to a path; `basic` adds HTTP Basic credentials. */
  async post(
    path: string,
    fields: Record<string, string | undefined>,
    options: { basic?: [string, string]; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers; text: string }> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(fields))
      if (value !== undefined) body.append(name, value);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      ...(options.headers ?? {}),
    };
    if (options.basic) {
      const encode = (value: string) => encodeURIComponent(value);
      headers.authorization = `Basic ${Buffer.from(
        `${encode(options.basic[0])}:${encode(options.basic[1])}`,
      ).toString('base64')}`;
    }
    const response = await fetch(`${this.url}${path}`, { method: 'POST', headers, body });
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      parsed = {};
    }
    return { status: response.status, body: parsed, headers: response.headers, text };
  }

  token(fields: Record<string, string | undefined>, basic?: [string, string]) {
    return this.post('/oauth/token', fields, basic ? { basic } : {});
  }

  /** Runs the whole browser side of an authorization and returns the redirect it ends in. */
  async authorize(request: AuthorizeRequest): Promise<URL> {
    const browser = request.browser ?? this.browser();
    const first = await browser.get(`/oauth/authorize?${authorizeQuery(this, request).toString()}`);
    return browser.completeFlow(
      first,
      request.username ?? 'alice',
      request.password ?? PASSWORD,
      request.decision ?? 'allow',
    );
  }

  /** authorize() plus the code exchange; returns the token response body. */
  async obtainTokens(request: AuthorizeRequest = {}): Promise<TokenBody> {
    const pkce = request.pkce ?? newPkce();
    const redirectUri = request.redirectUri ?? 'http://127.0.0.1:4567/cb';
    const landed = await this.authorize({ ...request, pkce, redirectUri });
    const code = landed.searchParams.get('code');
    if (code === null) throw new Error(`no code in ${landed.href}`);
    const clientId = request.clientId ?? 'pre-public';
    const result = await this.token(
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: pkce.verifier,
        client_id: request.basic ? undefined : clientId,
        resource: this.resource,
      },
      request.basic,
    );
    if (result.status !== 200) throw new Error(`token exchange failed: ${result.text}`);
    return result.body as unknown as TokenBody;
  }

  eventsNamed(name: AuditEvent['event']): AuditEvent[] {
    return this.events.filter((event) => event.event === name);
  }
}

export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export interface Pkce {
  readonly verifier: string;
  readonly challenge: string;
}

export function newPkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeRequest {
  readonly clientId?: string;
  readonly redirectUri?: string;
  readonly scope?: string;
  readonly resource?: string;
  readonly state?: string;
  readonly pkce?: Pkce;
  readonly username?: string;
  readonly password?: string;
  readonly decision?: 'allow' | 'deny';
  readonly basic?: [string, string];
  readonly browser?: Browser;
  /** Raw parameters replacing the defaults entirely (for negative tests). */
  readonly extra?: Record<string, string>;
}

export function authorizeQuery(h: Harness, request: AuthorizeRequest): URLSearchParams {
  const pkce = request.pkce ?? newPkce();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: request.clientId ?? 'pre-public',
    redirect_uri: request.redirectUri ?? 'http://127.0.0.1:4567/cb',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    resource: request.resource ?? h.resource,
    state: request.state ?? 'state-123',
  });
  if (request.scope !== undefined) query.set('scope', request.scope);
  for (const [name, value] of Object.entries(request.extra ?? {})) query.set(name, value);
  return query;
}

/** A cookie-keeping HTTP client that follows nothing by itself. */
export class Browser {
  readonly origin: string;
  readonly cookies = new Map<string, string>();

  constructor(origin: string) {
    this.origin = origin;
  }

  private absorb(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const index = pair?.indexOf('=') ?? -1;
      if (pair === undefined || index === -1) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (/Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }

  async get(path: string): Promise<Response> {
    const response = await fetch(new URL(path, this.origin), {
      redirect: 'manual',
      headers: this.cookieHeader(),
    });
    this.absorb(response);
    return response;
  }

  async postForm(path: string, fields: Record<string, string>): Promise<Response> {
    const response = await fetch(new URL(path, this.origin), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.cookieHeader() },
      body: new URLSearchParams(fields),
    });
    this.absorb(response);
    return response;
  }

  /** From the answer of /oauth/authorize to the redirect back to the client. */
  async completeFlow(
    first: Response,
    username: string,
    password: string,
    decision: 'allow' | 'deny',
  ): Promise<URL> {
    let response = first;
    for (let hop = 0; hop < 8; hop++) {
      if (response.status !== 303) {
        throw new Error(`expected a redirect, got ${response.status}: ${await response.text()}`);
      }
      const location = new URL(response.headers.get('location') ?? '', this.origin);
      if (location.origin !== this.origin || !location.pathname.startsWith('/oauth/'))
        return location;
      const page = await this.get(location.pathname + location.search);
      if (page.status === 303) {
        response = page;
        continue;
      }
      const html = await page.text();
      const fields = hiddenFields(html);
      if (location.pathname === '/oauth/login') {
        response = await this.postForm('/oauth/login', { ...fields, username, password });
      } else if (location.pathname === '/oauth/consent') {
        response = await this.postForm('/oauth/consent', { ...fields, decision });
      } else {
        throw new Error(`unexpected page ${location.pathname}: ${page.status}`);
      }
    }
    throw new Error('too many hops');
  }
}

export function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    if (match[1] !== undefined) out[match[1]] = (match[2] ?? '').replace(/&amp;/g, '&');
  }
  return out;
}

export function baseDocument(port: number): Document {
  return {
    remote_mcp: {
      enabled: true,
      bind_address: `127.0.0.1:${port}`,
      allowed_scopes: ['files:read', 'files:write', 'admin'],
      token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
    },
    safety: { remote_mcp_enabled: true },
    upstreams: [
      { name: 'files', path: '/mcp', command: 'node', tool_scopes: { '*': 'files:read' } },
      { name: 'other', path: '/other', command: 'node' },
    ],
    authorization_server: {
      enabled: true,
      dynamic_registration: 'open',
      clients: [
        {
          client_id: 'pre-public',
          client_name: 'Pre-registered public client',
          redirect_uris: ['http://127.0.0.1/cb', 'https://app.example/cb'],
          scope: ['files:read', 'files:write'],
        },
        {
          client_id: 'pre-confidential',
          client_name: 'Pre-registered confidential client',
          client_secret_env: 'CONFIDENTIAL_SECRET',
          redirect_uris: ['https://app.example/cb', 'http://127.0.0.1/cb'],
          grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        },
        {
          client_id: 'machine',
          client_secret_env: 'CONFIDENTIAL_SECRET',
          redirect_uris: ['https://machine.example/cb'],
          grant_types: ['client_credentials'],
          scope: ['files:read'],
        },
        {
          client_id: 'codes-only',
          redirect_uris: ['http://127.0.0.1/cb'],
          grant_types: ['authorization_code'],
        },
      ],
    },
  };
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  let target: AuthorizationServer | undefined;
  const server = await serveWeb(async (request, context) => {
    const extra = await options.extra?.(request);
    if (extra !== undefined) return extra;
    return target?.handle(request, context);
  });
  const document = baseDocument(server.port);
  options.edit?.(document);
  const loaded = loadConfigText(stringify(document), {
    env: {
      TEST_HMAC_SECRET: HMAC_SECRET,
      CONFIDENTIAL_SECRET,
      INITIAL_ACCESS_TOKEN,
    },
  });
  const store: Store =
    options.store === 'sqlite' ? new SqliteStore(join(tempDir(), 'as.db')) : new MemoryStore();
  const clock = new Clock();
  const events: AuditEvent[] = [];
  const as = await createAuthorizationServer(loaded, {
    store,
    now: () => clock.now,
    audit: { record: (event) => events.push(event) },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.deps?.(clock) ?? {}),
  });
  target = as;
  await setUserPassword(store, 'alice', PASSWORD, clock.now);
  return new Harness({ server, as, store, loaded, clock, events });
}

/** Registers a client dynamically and returns the registration response. */
export async function register(
  h: Harness,
  metadata: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${h.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(metadata),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    headers: response.headers,
  };
}
