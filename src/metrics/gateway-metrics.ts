import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
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

    const requests = new Counter({
      name: 'portcullis_requests_total',
      help: 'Requests answered, by upstream, JSON-RPC method, decision and HTTP status.',
      labelNames: ['upstream', 'method', 'decision', 'status'] as const,
      registers,
    });
    const overhead = new Histogram({
      name: 'portcullis_gateway_overhead_seconds',
      help: 'Time spent in the gateway itself per request, excluding the upstream.',
      labelNames: ['upstream'] as const,
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    const upstream = new Histogram({
      name: 'portcullis_upstream_duration_seconds',
      help: 'Time waiting on the upstream per forwarded request.',
      labelNames: ['upstream'] as const,
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    const verifications = new Counter({
      name: 'portcullis_token_verifications_total',
      help: 'Access-token verifications by outcome (ok or error code) and whether the cache answered.',
      labelNames: ['outcome', 'cached'] as const,
      registers,
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
      const status = String(message.status);
      requests.inc({
        upstream: message.upstream,
        method: message.method,
        decision: message.decision,
        status,
      });
      overhead.observe({ upstream: message.upstream }, message.overheadSeconds);
      if (message.upstreamSeconds !== undefined)
        upstream.observe({ upstream: message.upstream }, message.upstreamSeconds);
    });
    this.listen(verificationChannel, (message: VerificationMessage) => {
      verifications.inc({ outcome: message.outcome, cached: String(message.cached) });
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
