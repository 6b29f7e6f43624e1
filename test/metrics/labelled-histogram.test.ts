import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { LabelledHistogram } from '../../src/metrics/gateway-metrics.ts';

/**
 * The gateway counts its per-request histograms itself (no per-call label hashing) and hands
 * them to the registry at scrape time: what a scraper reads must be what prom-client's own
 * Histogram would have written for the same observations.
 */
describe('LabelledHistogram', () => {
  const buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
  const observations: readonly (readonly [string, number])[] = [
    ['files', 0.0002],
    ['files', 0.5],
    ['files', 0],
    ['files', 0.0001],
    ['git "main" \\ x', 0.003],
    ['files', 0.025],
  ];

  it('is exposed exactly as a prom-client Histogram with the same observations', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const help = 'Time "spent" \\ somewhere.';
    const reference = new Histogram({
      name: 'x_seconds',
      help,
      labelNames: ['upstream'],
      buckets,
      registers: [theirs],
    });
    const histogram = new LabelledHistogram({
      name: 'x_seconds',
      help,
      label: 'upstream',
      buckets,
    });
    ours.registerMetric(histogram as never);
    for (const [upstream, value] of observations) {
      reference.observe({ upstream }, value);
      histogram.observe(upstream, value);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it('starts empty again after reset, like prom-client', async () => {
    const registry = new Registry();
    const histogram = new LabelledHistogram({ name: 'y_seconds', help: 'y', label: 'u', buckets });
    registry.registerMetric(histogram as never);
    histogram.observe('a', 0.001);
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /y_seconds_count/);
    histogram.observe('a', 0.001);
    assert.match(await registry.metrics(), /y_seconds_count\{u="a"\} 1/);
  });
});
