/**
 * Refresh-grant throughput of the co-located authorization server on SQLite: how many
 * refresh_token grants per second (each a rotation: a signed access token, a new refresh token,
 * one compare-and-set transaction). Requests go to the server's Web handler in-process, so the
 * figure is the authorization server and its store, not the HTTP front. A baseline measured in
 * the same run, bare ES256 signing with jose, shows what share of the cost is the signature.
 *
 * Writes its figures under the `refresh` key of bench/results/latest.json, keeping other keys.
 * Run alone: node bench/refresh.ts
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, SignJWT } from 'jose';
import { stringify } from 'yaml';
import { createAuthorizationServer } from '../src/authorization-server/index.ts';
import { loadConfigText } from '../src/config/index.ts';
import { SqliteStore, type Store } from '../src/store/index.ts';

const RESULTS = new URL('./results/latest.json', import.meta.url);
const ORIGIN = 'http://127.0.0.1:8080';
const DURATION_MS = Number(process.env.BENCH_REFRESH_MS ?? 5000);
const CONCURRENCY = 8;

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function baselineSigning(durationMs: number): Promise<number> {
  const { privateKey } = await generateKeyPair('ES256');
  let count = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    await new SignJWT({ scope: 'mcp:tools', client_id: 'bench' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer(ORIGIN)
      .setSubject('bench')
      .setAudience(`${ORIGIN}/mcp`)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(privateKey);
    count++;
  }
  return (count * 1000) / durationMs;
}

export interface RefreshFigures {
  readonly store: string;
  readonly sequential: { tokensPerSecond: number; p50Ms: number; p99Ms: number; count: number };
  readonly concurrent: {
    families: number;
    tokensPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    count: number;
  };
  readonly baselineEs256SignsPerSecond: number;
  /** Refresh grants per second over bare signatures per second (same run). */
  readonly ratioToSigning: number;
  readonly durationMs: number;
  readonly node: string;
  readonly measuredAt: string;
}

/**
 * `openStore` gives the store to measure (default: a SQLite file in a temp directory; the Redis
 * benchmark passes a Redis store to compare the two in one run).
 */
export async function benchRefresh(
  durationMs = DURATION_MS,
  openStore?: () => Store,
): Promise<RefreshFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const loaded = loadConfigText(
    stringify({
      remote_mcp: { allowed_scopes: ['mcp:tools'] },
      upstreams: [{ name: 'bench', path: '/mcp', command: 'node' }],
      authorization_server: {
        enabled: true,
        clients: [{ client_id: 'bench', redirect_uris: ['http://127.0.0.1/cb'] }],
      },
    }),
  );
  const store = openStore?.() ?? new SqliteStore(join(dir, 'bench.db'));
  const server = await createAuthorizationServer(loaded, { store });
  await store.putUser({
    username: 'bench',
    passwordHash: 'unused',
    disabled: false,
    createdAt: Date.now(),
    updatedAt: Date.now(),
  });

  const post = async (fields: Record<string, string>) => {
    const response = await server.handle(
      new Request(`${ORIGIN}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
      }),
    );
    if (response?.status !== 200) throw new Error(`token endpoint: ${await response?.text()}`);
    return (await response.json()) as { refresh_token: string };
  };

  /** A family to refresh: a code put in the store, redeemed through the token endpoint. */
  const newFamily = async (): Promise<string> => {
    const code = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    await store.putCode({
      codeHash: sha256(code),
      grantId: randomBytes(16).toString('base64url'),
      clientId: 'bench',
      subject: 'bench',
      redirectUri: 'http://127.0.0.1/cb',
      codeChallenge: sha256(verifier),
      resource: `${ORIGIN}/mcp`,
      scopes: ['mcp:tools'],
      createdAt: Date.now(),
      expiresAt: Date.now() + 60_000,
      consumedAt: undefined,
    });
    const tokens = await post({
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'http://127.0.0.1/cb',
      code_verifier: verifier,
      client_id: 'bench',
    });
    return tokens.refresh_token;
  };

  const refreshLoop = async (until: number, latencies: number[]) => {
    let token = await newFamily();
    while (performance.now() < until) {
      const started = performance.now();
      token = (
        await post({ grant_type: 'refresh_token', refresh_token: token, client_id: 'bench' })
      ).refresh_token;
      latencies.push(performance.now() - started);
    }
  };

  try {
    // Warm-up: JIT, statement cache, key import.
    await refreshLoop(performance.now() + 300, []);

    const sequential: number[] = [];
    const seqStart = performance.now();
    await refreshLoop(seqStart + durationMs, sequential);
    const seqElapsed = performance.now() - seqStart;

    const concurrent: number[] = [];
    const conStart = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, () => refreshLoop(conStart + durationMs, concurrent)),
    );
    const conElapsed = performance.now() - conStart;

    const baseline = await baselineSigning(Math.min(durationMs, 3000));
    sequential.sort((a, b) => a - b);
    concurrent.sort((a, b) => a - b);
    const seqRate = (sequential.length * 1000) / seqElapsed;
    const round = (value: number, digits = 1) => Number(value.toFixed(digits));
    return {
      store: store.backend,
      sequential: {
        tokensPerSecond: round(seqRate),
        p50Ms: round(percentile(sequential, 50), 3),
        p99Ms: round(percentile(sequential, 99), 3),
        count: sequential.length,
      },
      concurrent: {
        families: CONCURRENCY,
        tokensPerSecond: round((concurrent.length * 1000) / conElapsed),
        p50Ms: round(percentile(concurrent, 50), 3),
        p99Ms: round(percentile(concurrent, 99), 3),
        count: concurrent.length,
      },
      baselineEs256SignsPerSecond: round(baseline),
      ratioToSigning: round(seqRate / baseline, 3),
      durationMs,
      node: process.version,
      measuredAt: new Date().toISOString(),
    };
  } finally {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Merges the figures into bench/results/latest.json under `refresh`. */
export function writeRefreshFigures(figures: RefreshFigures): void {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const existing = existsSync(RESULTS)
    ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>)
    : {};
  writeFileSync(RESULTS, `${JSON.stringify({ ...existing, refresh: figures }, null, 2)}\n`);
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const figures = await benchRefresh();
  writeRefreshFigures(figures);
  console.log(JSON.stringify({ refresh: figures }, null, 2));
}
