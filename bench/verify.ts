/**
 * Micro-benchmark of access-token verification: µs per verification, cold
 * (RS256, ES256, EdDSA; every token distinct, so no cache hit) and cached (the same token again),
 * with jose's own `jwtVerify` on the same tokens and keys as the baseline, in the same run.
 *
 * Method for shared, noisy machines: subjects are interleaved round by round and each figure is
 * the median over rounds of the mean time per verification in that round. Ratios are what the
 * goals are stated in; absolute times are for orientation only.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import os from 'node:os';
import { type CryptoKey, importJWK, type JWK, jwtVerify } from 'jose';
import {
  buildKeySet,
  createAccessTokenVerifier,
  createStaticKeySource,
} from '../src/resource-server/index.ts';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://gateway.example/mcp';
const ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
type Alg = (typeof ALGORITHMS)[number];

export interface VerifyBenchOptions {
  readonly rounds?: number;
  /** Distinct tokens per algorithm (and verifications per round for each cold subject). */
  readonly tokens?: number;
  /** Verifications per round for the cached subject. */
  readonly cachedIterations?: number;
}

export interface Figure {
  /** Median over rounds of µs per verification. */
  readonly medianUs: number;
  readonly minUs: number;
  readonly maxUs: number;
}

export interface VerifyBenchResult {
  readonly date: string;
  readonly environment: Readonly<Record<string, string | number>>;
  readonly method: string;
  readonly rounds: number;
  readonly tokensPerAlgorithm: number;
  readonly portcullis: {
    readonly cold: Readonly<Record<Alg, Figure>>;
    readonly cached: Figure;
  };
  readonly jose: { readonly jwtVerify: Readonly<Record<Alg, Figure>> };
  readonly ratios: {
    /** Cold Portcullis verification over jose jwtVerify, same tokens and keys. */
    readonly coldOverJose: Readonly<Record<Alg, number>>;
  };
  readonly goals: {
    readonly cachedAtMost5Us: boolean;
    readonly coldRs256AtMost2xJose: boolean;
  };
}

function keyPair(alg: Alg) {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const jwk = {
    ...(pair.publicKey.export({ format: 'jwk' }) as JWK),
    kid: `bench-${alg}`,
    alg,
    use: 'sig',
  };
  return { privateKey: pair.privateKey, jwk };
}

function mint(
  alg: Alg,
  privateKey: ReturnType<typeof keyPair>['privateKey'],
  index: number,
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = Buffer.from(JSON.stringify({ alg, kid: `bench-${alg}`, typ: 'at+jwt' })).toString(
    'base64url',
  );
  const payload = Buffer.from(
    JSON.stringify({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: `user-${index}`,
      client_id: 'bench-client',
      iat: now,
      exp: now + 3600,
      jti: `jti-${alg}-${index}`,
      scope: 'files:read files:write',
    }),
  ).toString('base64url');
  const input = Buffer.from(`${header}.${payload}`);
  const signature =
    alg === 'RS256'
      ? sign('sha256', input, privateKey)
      : alg === 'ES256'
        ? sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' })
        : sign(null, input, privateKey);
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

function figure(samples: readonly number[]): Figure {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? 0)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  const round = (value: number) => Math.round(value * 100) / 100;
  return {
    medianUs: round(median),
    minUs: round(sorted[0] ?? 0),
    maxUs: round(sorted.at(-1) ?? 0),
  };
}

async function timeEach(
  items: readonly string[],
  run: (token: string) => Promise<unknown>,
): Promise<number> {
  const start = process.hrtime.bigint();
  for (const item of items) await run(item);
  return Number(process.hrtime.bigint() - start) / 1000 / items.length;
}

export async function runVerifyBench(options: VerifyBenchOptions = {}): Promise<VerifyBenchResult> {
  const rounds = options.rounds ?? 9;
  const count = options.tokens ?? 1000;
  const cachedIterations = options.cachedIterations ?? 20_000;

  const pairs = Object.fromEntries(ALGORITHMS.map((alg) => [alg, keyPair(alg)])) as Record<
    Alg,
    ReturnType<typeof keyPair>
  >;
  const keySet = await buildKeySet(
    { keys: ALGORITHMS.map((alg) => pairs[alg].jwk) },
    [...ALGORITHMS],
    undefined,
  );
  const joseKeys = {} as Record<Alg, CryptoKey>;
  for (const alg of ALGORITHMS) joseKeys[alg] = (await importJWK(pairs[alg].jwk, alg)) as CryptoKey;

  // Fresh tokens per round so that every cold verification misses the cache.
  const tokens = (round: number) =>
    Object.fromEntries(
      ALGORITHMS.map((alg) => [
        alg,
        Array.from({ length: count }, (_, index) =>
          mint(alg, pairs[alg].privateKey, round * count + index),
        ),
      ]),
    ) as Record<Alg, string[]>;

  const verifier = createAccessTokenVerifier({
    issuer: ISSUER,
    audiences: [AUDIENCE],
    algorithms: [...ALGORITHMS],
    tokenIdSecret: Buffer.alloc(32, 7),
    allowedScopes: ['files:read', 'files:write'],
    keys: createStaticKeySource(keySet),
    cache: { maxEntries: 10_000 },
  });
  const joseOptions = (alg: Alg) => ({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: [alg],
    requiredClaims: ['exp'],
  });

  const cachedToken = mint('RS256', pairs.RS256.privateKey, -1);
  const samples = {
    cold: { RS256: [] as number[], ES256: [] as number[], EdDSA: [] as number[] },
    jose: { RS256: [] as number[], ES256: [] as number[], EdDSA: [] as number[] },
    cached: [] as number[],
  };

  // Warm-up round (JIT, key import paths), not recorded.
  const warm = tokens(rounds + 1);
  for (const alg of ALGORITHMS) {
    await timeEach(warm[alg].slice(0, 200), (token) => verifier.verify(token));
    await timeEach(warm[alg].slice(200, 400), (token) =>
      jwtVerify(token, joseKeys[alg], joseOptions(alg)),
    );
  }
  await verifier.verify(cachedToken);
  const repeated = Array.from({ length: cachedIterations }, () => cachedToken);
  await timeEach(repeated.slice(0, 2000), (token) => verifier.verify(token));

  for (let round = 0; round < rounds; round++) {
    const set = tokens(round);
    for (const alg of ALGORITHMS) {
      // Alternate which goes first, so neither always meets a cold CPU.
      const ours = () => timeEach(set[alg], (token) => verifier.verify(token));
      const theirs = () =>
        timeEach(set[alg], (token) => jwtVerify(token, joseKeys[alg], joseOptions(alg)));
      if (round % 2 === 0) {
        samples.cold[alg].push(await ours());
        samples.jose[alg].push(await theirs());
      } else {
        samples.jose[alg].push(await theirs());
        samples.cold[alg].push(await ours());
      }
    }
    samples.cached.push(await timeEach(repeated, (token) => verifier.verify(token)));
  }

  const cold = Object.fromEntries(
    ALGORITHMS.map((alg) => [alg, figure(samples.cold[alg])]),
  ) as Record<Alg, Figure>;
  const jose = Object.fromEntries(
    ALGORITHMS.map((alg) => [alg, figure(samples.jose[alg])]),
  ) as Record<Alg, Figure>;
  const cached = figure(samples.cached);
  // Ratio per round (same round, same tokens), then the median: robust to load that shifts between rounds.
  const ratio = (alg: Alg) =>
    figure(samples.cold[alg].map((value, index) => value / (samples.jose[alg][index] ?? value)))
      .medianUs;
  const coldOverJose = { RS256: ratio('RS256'), ES256: ratio('ES256'), EdDSA: ratio('EdDSA') };

  return {
    date: new Date().toISOString(),
    environment: {
      node: process.version,
      jose: await joseVersion(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    },
    method: `median over ${rounds} interleaved rounds of the mean µs per sequential verification; cold: ${count} distinct tokens per algorithm per round; cached: ${cachedIterations} verifications of one token per round`,
    rounds,
    tokensPerAlgorithm: count,
    portcullis: { cold, cached },
    jose: { jwtVerify: jose },
    ratios: { coldOverJose },
    goals: {
      cachedAtMost5Us: cached.medianUs <= 5,
      coldRs256AtMost2xJose: coldOverJose.RS256 <= 2,
    },
  };
}

async function joseVersion(): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(
      new URL('../node_modules/jose/package.json', import.meta.url),
      'utf8',
    );
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Markdown summary of a result, for bench/results/latest.md. */
export function verifyMarkdown(result: VerifyBenchResult): string {
  const row = (name: string, ours: Figure, theirs: Figure | undefined, ratio: number | undefined) =>
    `| ${name} | ${ours.medianUs} | ${ours.minUs}–${ours.maxUs} | ${theirs ? theirs.medianUs : '—'} | ${ratio ?? '—'} |`;
  const lines = [
    '## Token verification (`bench/verify.ts`)',
    '',
    `${result.date} · Node ${result.environment.node} · jose ${result.environment.jose} · ${result.environment.cpu} (${result.environment.cores} cores, load ${result.environment.loadAverage1m})`,
    '',
    `Method: ${result.method}.`,
    '',
    '| verification | Portcullis µs (median) | range µs | jose `jwtVerify` µs (median) | Portcullis / jose |',
    '| --- | --- | --- | --- | --- |',
    ...ALGORITHMS.map((alg) =>
      row(
        `cold ${alg}`,
        result.portcullis.cold[alg],
        result.jose.jwtVerify[alg],
        result.ratios.coldOverJose[alg],
      ),
    ),
    row('cached (any algorithm)', result.portcullis.cached, undefined, undefined),
    '',
    `Goals: cached ≤ 5 µs — ${result.goals.cachedAtMost5Us ? 'met' : 'NOT met'}; cold RS256 ≤ 2× jose \`jwtVerify\` — ${result.goals.coldRs256AtMost2xJose ? 'met' : 'NOT met'}.`,
    '',
  ];
  return lines.join('\n');
}
