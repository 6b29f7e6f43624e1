import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import {
  type KeySetFetchMessage,
  keySetFetchChannel,
  type RateLimitMessage,
  type RequestMessage,
  rateLimitChannel,
  requestChannel,
  type VerificationMessage,
  verificationChannel,
} from '../lib/channels.ts';

/** Live counts the serving layers own; read at scrape time. */
export interface GaugeSources {
  openConnections?: () => number;
  sessions?: () => number;
  childProcesses?: () => number;
  auditSinkHealthy?: () => boolean;
}

/** Latency buckets in seconds: the gateway's own overhead is sub-millisecond, upstreams vary. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
const UPSTREAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The gateway's Prometheus series, fed by the diagnostics channels. One instance per server;
 * `dispose` unsubscribes.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly sources: GaugeSources = {};
  private readonly unsubscribe: (() => void)[] = [];

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });

    // Every answered request feeds these three: counted here in plain maps and arrays, and
    // handed to the registry at scrape time, rather than through prom-client's per-call label
    // validation and hashing (measured: several µs per request, a few per cent of the gateway).
    const answered = new Map<string, { labels: Record<string, string>; count: number }>();
    new Counter({
      name: 'portcullis_requests_total',
      help: 'Requests answered, by upstream, JSON-RPC method, decision and HTTP status.',
      labelNames: ['upstream', 'method', 'decision', 'status'] as const,
      registers,
      collect() {
        for (const entry of answered.values()) {
          if (entry.count === 0) continue;
          this.inc(entry.labels, entry.count);
          entry.count = 0;
        }
      },
    });
    const overhead = new LabelledHistogram({
      name: 'portcullis_gateway_overhead_seconds',
      help: 'Time spent in the gateway itself per request, excluding the upstream.',
      label: 'upstream',
      buckets: OVERHEAD_BUCKETS,
    });
    const upstream = new LabelledHistogram({
      name: 'portcullis_upstream_duration_seconds',
      help: 'Time waiting on the upstream per forwarded request.',
      label: 'upstream',
      buckets: UPSTREAM_BUCKETS,
    });
    this.registry.registerMetric(overhead as never);
    this.registry.registerMetric(upstream as never);
    // One verification per request too: counted like the requests above, by outcome, then
    // answered from the cache or not.
    const verified = new Map<string, [fromCache: number, checked: number]>();
    new Counter({
      name: 'portcullis_token_verifications_total',
      help: 'Access-token verifications by outcome (ok or error code) and whether the cache answered.',
      labelNames: ['outcome', 'cached'] as const,
      registers,
      collect() {
        for (const [outcome, counts] of verified) {
          if (counts[0] > 0) this.inc({ outcome, cached: 'true' }, counts[0]);
          if (counts[1] > 0) this.inc({ outcome, cached: 'false' }, counts[1]);
          counts[0] = 0;
          counts[1] = 0;
        }
      },
    });
    let hits = 0;
    let lookups = 0;
    new Gauge({
      name: 'portcullis_token_cache_hit_ratio',
      help: 'Share of verifications answered from the verified-token cache since start.',
      registers,
      collect() {
        this.set(lookups === 0 ? 0 : hits / lookups);
      },
    });
    const keySetFetches = new Counter({
      name: 'portcullis_jwks_fetches_total',
      help: 'JWKS and metadata fetches by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    });
    const rateLimited = new Counter({
      name: 'portcullis_rate_limit_refusals_total',
      help: 'Requests refused with 429, by what was limited (address, session, subject).',
      labelNames: ['scope'] as const,
      registers,
    });
    const sources = this.sources;
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read() ?? 0);
        },
      });
    gauge('portcullis_open_connections', 'Open HTTP connections.', () =>
      sources.openConnections?.(),
    );
    gauge('portcullis_sessions', 'Open MCP sessions.', () => sources.sessions?.());
    gauge('portcullis_child_processes', 'Running stdio upstream processes.', () =>
      sources.childProcesses?.(),
    );
    gauge('portcullis_audit_sink_healthy', '1 while the audit sink can write.', () => {
      const healthy = sources.auditSinkHealthy?.();
      return healthy === undefined ? undefined : Number(healthy);
    });

    this.listen(requestChannel, (message: RequestMessage) => {
      const key = `${message.upstream}\n${message.method}\n${message.decision}\n${message.status}`;
      let entry = answered.get(key);
      if (entry === undefined) {
        entry = {
          labels: {
            upstream: message.upstream,
            method: message.method,
            decision: message.decision,
            status: String(message.status),
          },
          count: 0,
        };
        answered.set(key, entry);
      }
      entry.count++;
      overhead.observe(message.upstream, message.overheadSeconds);
      if (message.upstreamSeconds !== undefined)
        upstream.observe(message.upstream, message.upstreamSeconds);
    });
    this.listen(verificationChannel, (message: VerificationMessage) => {
      let counts = verified.get(message.outcome);
      if (counts === undefined) {
        counts = [0, 0];
        verified.set(message.outcome, counts);
      }
      counts[message.cached ? 0 : 1]++;
      lookups++;
      if (message.cached) hits++;
    });
    this.listen(keySetFetchChannel, (message: KeySetFetchMessage) =>
      keySetFetches.inc({ outcome: message.outcome }),
    );
    this.listen(rateLimitChannel, (message: RateLimitMessage) =>
      rateLimited.inc({ scope: message.scope }),
    );
  }

  /** Registers the live counts owned by the serving layers. */
  setSources(sources: GaugeSources): void {
    Object.assign(this.sources, sources);
  }

  /** Prometheus text exposition format 0.0.4. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  dispose(): void {
    for (const stop of this.unsubscribe) stop();
    this.unsubscribe.length = 0;
    this.registry.clear();
  }

  private listen<T>(target: typeof requestChannel, handler: (message: T) => void): void {
    const listener = (message: unknown) => handler(message as T);
    target.subscribe(listener);
    this.unsubscribe.push(() => target.unsubscribe(listener));
  }
}

/** One series of a LabelledHistogram: counts per bucket (not cumulative), sum and count. */
interface HistogramSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram with one label, observed with a bucket search and three additions. It
 * is registered in a prom-client Registry as a metric of its own (the registry asks a metric for
 * its values through `get`, or `getForPromString` when present) and is exposed exactly as a
 * prom-client Histogram is: cumulative `_bucket` series with `le`, then `_sum` and `_count`.
 */
export class LabelledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #label: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(options: { name: string; help: string; label: string; buckets: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#label = options.label;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  observe(labelValue: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let series = this.#series.get(labelValue);
    if (series === undefined) {
      series = { counts: new Float64Array(this.#bounds.length), sum: 0, count: 0 };
      this.#series.set(labelValue, series);
    }
    const bounds = this.#bounds;
    for (let index = 0; index < bounds.length; index++) {
      if (value <= (bounds[index] as number)) {
        series.counts[index] = (series.counts[index] ?? 0) + 1;
        break;
      }
    }
    series.sum += value;
    series.count++;
  }

  reset(): void {
    this.#series.clear();
  }

  /** The values as prom-client's Histogram gives them for the text format (labels shared). */
  getForPromString(): PromHistogramData {
    const values: PromHistogramValue[] = [];
    for (const [labelValue, series] of this.#series) {
      const shared = { [this.#label]: labelValue };
      let cumulative = 0;
      this.#bounds.forEach((bound, index) => {
        cumulative += series.counts[index] ?? 0;
        values.push({
          labels: { le: bound },
          sharedLabels: shared,
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push(
        {
          labels: { le: '+Inf' },
          sharedLabels: shared,
          value: series.count,
          metricName: `${this.name}_bucket`,
        },
        { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  /** The values as prom-client's Histogram `get` gives them (labels merged). */
  get(): PromHistogramData {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}

interface PromHistogramValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels?: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

interface PromHistogramData {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: PromHistogramValue[];
  readonly aggregator: string;
}
