/**
 * The load generator, run as its own (pinned) process so it does not share a core with the
 * server under test. argv[2] is the JSON of autocannon options; prints the result as JSON.
 */
import autocannon, { type Options } from 'autocannon';

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const result = await autocannon(options);
console.log(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    total: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }),
);
