import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import {
  keySetFetchChannel,
  publish,
  rateLimitChannel,
  requestChannel,
  verificationChannel,
} from '../../src/lib/channels.ts';
import { GatewayMetrics } from '../../src/metrics/index.ts';

interface Family {
  name: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
  }[];
}

async function scrape(metrics: GatewayMetrics): Promise<Map<string, Family>> {
  const { body, contentType } = await metrics.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(body) as Family[];
  return new Map(families.map((family) => [family.name, family]));
}

describe('gateway metrics', () => {
  it('turns channel messages into Prometheus series that a text-format parser reads', async () => {
    const metrics = new GatewayMetrics();
    metrics.setSources({
      openConnections: () => 3,
      sessions: () => 2,
      childProcesses: () => 1,
      auditSinkHealthy: () => true,
    });
    try {
      publish(requestChannel, {
        upstream: 'files',
        method: 'tools/call',
        decision: 'allow',
        status: 200,
        overheadSeconds: 0.0002,
        upstreamSeconds: 0.01,
      });
      publish(requestChannel, {
        upstream: 'files',
        method: 'tools/call',
        decision: 'deny',
        status: 403,
        overheadSeconds: 0.0001,
      });
      publish(verificationChannel, { outcome: 'ok', cached: false });
      publish(verificationChannel, { outcome: 'ok', cached: true });
      publish(verificationChannel, { outcome: 'ok', cached: true });
      publish(verificationChannel, { outcome: 'AuthTokenExpired', cached: false });
      publish(keySetFetchChannel, { outcome: 'ok' });
      publish(rateLimitChannel, { scope: 'subject' });

      const families = await scrape(metrics);
      const requests = families.get('portcullis_requests_total');
      assert.equal(requests?.type, 'COUNTER');
      assert.deepEqual(
        requests?.metrics.map((m) => [m.labels?.decision, m.labels?.status, m.value]).sort(),
        [
          ['allow', '200', '1'],
          ['deny', '403', '1'],
        ],
      );
      const overhead = families.get('portcullis_gateway_overhead_seconds');
      assert.equal(overhead?.type, 'HISTOGRAM');
      // This parser drops _count/_sum of labelled histograms; the +Inf bucket is the count.
      assert.equal(overhead?.metrics[0]?.buckets?.['+Inf'], '2');
      assert.equal(overhead?.metrics[0]?.buckets?.['0.0001'], '1');
      const upstream = families.get('portcullis_upstream_duration_seconds');
      assert.equal(upstream?.metrics[0]?.buckets?.['+Inf'], '1');
      assert.equal(families.get('portcullis_token_cache_hit_ratio')?.metrics[0]?.value, '0.5');
      const expired = families
        .get('portcullis_token_verifications_total')
        ?.metrics.find((m) => m.labels?.outcome === 'AuthTokenExpired');
      assert.equal(expired?.value, '1');
      assert.equal(families.get('portcullis_jwks_fetches_total')?.metrics[0]?.value, '1');
      assert.equal(
        families.get('portcullis_rate_limit_refusals_total')?.metrics[0]?.labels?.scope,
        'subject',
      );
      assert.equal(families.get('portcullis_open_connections')?.metrics[0]?.value, '3');
      assert.equal(families.get('portcullis_sessions')?.metrics[0]?.value, '2');
      assert.equal(families.get('portcullis_child_processes')?.metrics[0]?.value, '1');
      assert.equal(families.get('portcullis_audit_sink_healthy')?.metrics[0]?.value, '1');
      assert.ok(families.has('portcullis_process_cpu_seconds_total'), 'process metrics too');
    } finally {
      metrics.dispose();
    }
  });

  it('stops listening once disposed', async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false });
    metrics.dispose();
    assert.equal(requestChannel.hasSubscribers, false);
    publish(requestChannel, {
      upstream: 'x',
      method: 'ping',
      decision: 'allow',
      status: 200,
      overheadSeconds: 0,
    });
  });
});
