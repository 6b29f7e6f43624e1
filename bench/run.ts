/**
 * `npm run bench`: every benchmark section in one run, figures to bench/results/latest.json and a
 * markdown table to bench/results/latest.md (quoted by the README). Ratios against baselines
 * measured in the same run, never absolute thresholds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { benchHttp, type TargetFigures } from './http.ts';

const quick = process.argv.includes('--quick');
const started = Date.now();
const machine = {
  cores: availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  date: new Date().toISOString(),
};
console.error(
  `bench: ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}${quick ? ' (quick)' : ''}`,
);

const http = await benchHttp(
  quick
    ? { seconds: 2, rounds: 1, connections: 32, rate: 1000 }
    : { seconds: 5, rounds: 3, connections: 32, rate: 1000 },
);

const results = { machine, seconds: Math.round((Date.now() - started) / 1000), http };
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  `${JSON.stringify(results, null, 2)}\n`,
);

const targets = (http.targets ?? {}) as Record<string, TargetFigures>;
const fmt = (value: number, digits = 3) => value.toFixed(digits);
const rows = Object.entries(targets).map(
  ([name, t]) =>
    `| ${name} | ${fmt(t.requestsPerSecond, 0)} | ${fmt(t.p50Ms)} | ${fmt(t.p99Ms)} | ${fmt(t.fixedRateP50Ms)} | ${fmt(t.fixedRateP99Ms)} | ${fmt(t.cpuSecondsPerRound)} |`,
);
const markdown = [
  `Benchmark: ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}, ${machine.date.slice(0, 10)}.`,
  '',
  `| target | req/s (${(http.settings as { connections: number }).connections} conns) | p50 ms | p99 ms | p50 ms @ ${(http.settings as { rate: number }).rate}/s | p99 ms @ ${(http.settings as { rate: number }).rate}/s | CPU s per run |`,
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  `Ratios (throughput): ${Object.entries(http.ratios as Record<string, number | null>)
    .map(([name, value]) => `${name} ${value ?? 'n/a'}`)
    .join(', ')}.`,
  '',
].join('\n');
writeFileSync(new URL('./results/latest.md', import.meta.url), markdown);
console.log(markdown);
console.error(`bench: done in ${results.seconds} s; wrote bench/results/latest.json and latest.md`);
