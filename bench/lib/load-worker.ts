/**
 * The load generator, run as its own (pinned) process so it does not share a core with the
 * server under test. argv[2] is the JSON of LoadOptions; prints a LoadResult as JSON.
 *
 * Latency is measured with hrtime at microsecond resolution (load generators that record whole
 * milliseconds cannot show a sub-millisecond overhead). At a fixed rate, requests are sent on a
 * schedule and latency counts from the scheduled time, so a stall is not hidden by sending less
 * (no coordinated omission).
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { dpopProof } from './gateway.ts';

interface WorkerOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  seconds: number;
  connections: number;
  rate?: number;
  /** Present a DPoP-bound token: a fresh proof per request (RFC 9449 §7.1). */
  dpop?: { privateJwk: Record<string, unknown>; publicJwk: Record<string, unknown>; token: string };
}

const options = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
const target = new URL(options.url);
const pool = new Pool(target.origin, {
  connections: options.connections,
  pipelining: 1,
  keepAliveTimeout: 60_000,
});
const latenciesUs: number[] = [];
let errors = 0;
let non2xx = 0;

const dpop = options.dpop;
const dpopKey =
  dpop === undefined
    ? undefined
    : {
        privateKey: createPrivateKey({ key: dpop.privateJwk as never, format: 'jwk' }),
        publicJwk: dpop.publicJwk,
      };

function headersFor(): Record<string, string> {
  if (dpop === undefined || dpopKey === undefined) return options.headers;
  const proof = dpopProof(
    dpopKey,
    { method: 'POST', url: options.url, token: dpop.token },
    randomUUID(),
  );
  return { ...options.headers, authorization: `DPoP ${dpop.token}`, dpop: proof };
}

async function send(startNs: bigint): Promise<void> {
  try {
    const response = await pool.request({
      path: target.pathname,
      method: 'POST',
      headers: headersFor(),
      body: options.body,
    });
    await response.body.arrayBuffer();
    if (response.statusCode < 200 || response.statusCode > 299) non2xx++;
    latenciesUs.push(Number(process.hrtime.bigint() - startNs) / 1000);
  } catch {
    errors++;
  }
}

const durationNs = BigInt(Math.round(options.seconds * 1e9));
const begin = process.hrtime.bigint();
const deadline = begin + durationNs;

if (options.rate === undefined) {
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (process.hrtime.bigint() < deadline) await send(process.hrtime.bigint());
    }),
  );
} else {
  const intervalNs = BigInt(Math.round(1e9 / options.rate));
  const inFlight = new Set<Promise<void>>();
  let next = begin;
  while (next < deadline) {
    const now = process.hrtime.bigint();
    while (next <= now && next < deadline) {
      const request = send(next);
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      next += intervalNs;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await Promise.all(inFlight);
}
const elapsedSeconds = Number(process.hrtime.bigint() - begin) / 1e9;
await pool.close();

latenciesUs.sort((a, b) => a - b);
const percentile = (p: number) =>
  (latenciesUs[Math.min(latenciesUs.length - 1, Math.floor((p / 100) * latenciesUs.length))] ?? 0) /
  1000;
console.log(
  JSON.stringify({
    requestsPerSecond: latenciesUs.length / elapsedSeconds,
    total: latenciesUs.length,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    errors,
    non2xx,
  }),
);
