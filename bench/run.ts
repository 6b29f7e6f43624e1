/**
 * `npm run bench`: runs the benchmarks and merges their figures into bench/results/latest.json
 * (one key per benchmark, so later benchmarks add theirs beside `verify`) and
 * bench/results/latest.md (one marked section per benchmark). Figures come from one run on one
 * machine; ratios against a baseline measured in the same run are what to compare.
 *
 *   node bench/run.ts [--only http|modern|verify|dpop|refresh|sessions|stdio-start|redis] [--quick]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchDpop, dpopMarkdown } from './dpop.ts';
import { benchHttp, httpMarkdown } from './http.ts';
import { benchModern, modernMarkdown } from './modern.ts';
import { benchRedis, redisMarkdown } from './redis.ts';
import { benchRefresh, type RefreshFigures } from './refresh.ts';
import { benchSessions, sessionsMarkdown } from './sessions.ts';
import { benchStdioStart, stdioStartMarkdown } from './stdio-start.ts';
import { runVerifyBench, verifyMarkdown } from './verify.ts';

const RESULTS = new URL('./results/', import.meta.url);
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const quick = args.includes('--quick');

interface Benchmark {
  readonly name: string;
  readonly run: () => Promise<unknown>;
  readonly markdown: (result: never) => string;
}

function refreshMarkdown(figures: RefreshFigures): string {
  return [
    '## Authorization server: refresh-token grants on SQLite',
    '',
    '| run | tokens/s | p50 ms | p99 ms |',
    '| --- | --- | --- | --- |',
    `| sequential | ${figures.sequential.tokensPerSecond} | ${figures.sequential.p50Ms} | ${figures.sequential.p99Ms} |`,
    `| ${figures.concurrent.families} concurrent families | ${figures.concurrent.tokensPerSecond} | ${figures.concurrent.p50Ms} | ${figures.concurrent.p99Ms} |`,
    `| baseline: bare ES256 signing (same run) | ${figures.baselineEs256SignsPerSecond} | | |`,
    '',
    `Refresh grants per bare signature: ${figures.ratioToSigning}.`,
  ].join('\n');
}

const BENCHMARKS: readonly Benchmark[] = [
  {
    name: 'http',
    run: () =>
      benchHttp(
        quick
          ? { seconds: 2, rounds: 1, connections: 32, rate: 1000 }
          : { seconds: 5, rounds: 3, connections: 32, rate: 1000 },
      ),
    markdown: httpMarkdown as (result: never) => string,
  },
  {
    name: 'modern',
    run: () =>
      benchModern(
        quick
          ? { seconds: 1, rounds: 2, connections: 32 }
          : { seconds: 2, rounds: 8, connections: 32 },
      ),
    markdown: modernMarkdown as (result: never) => string,
  },
  {
    name: 'verify',
    run: () => runVerifyBench(quick ? { rounds: 3, tokens: 200, cachedIterations: 5000 } : {}),
    markdown: verifyMarkdown as (result: never) => string,
  },
  {
    name: 'dpop',
    run: () => benchDpop(quick ? { rounds: 3, requests: 300 } : {}),
    markdown: dpopMarkdown as (result: never) => string,
  },
  {
    name: 'refresh',
    run: () => benchRefresh(quick ? 1000 : undefined),
    markdown: refreshMarkdown as (result: never) => string,
  },
  {
    name: 'sessions',
    run: () =>
      benchSessions(
        quick
          ? {
              sessions: 200,
              streams: 200,
              routes: 4,
              checkpoints: 2,
              warmupSessions: 20,
              warmupRequests: 2000,
              concurrency: 16,
            }
          : {
              sessions: 1000,
              streams: 1000,
              routes: 4,
              checkpoints: 4,
              warmupSessions: 50,
              warmupRequests: 4000,
              concurrency: 16,
            },
      ),
    markdown: sessionsMarkdown as (result: never) => string,
  },
  {
    name: 'redis',
    run: () =>
      benchRedis(
        quick
          ? { seconds: 2, rounds: 1, connections: 32, refreshMs: 1000 }
          : { seconds: 5, rounds: 3, connections: 32, refreshMs: 3000 },
      ),
    markdown: redisMarkdown as (result: never) => string,
  },
  {
    name: 'stdio-start',
    run: () => benchStdioStart(quick ? { sessions: 10, warmup: 2 } : { sessions: 50, warmup: 3 }),
    markdown: stdioStartMarkdown as (result: never) => string,
  },
];

function readJson(url: URL): Record<string, unknown> {
  try {
    const value = JSON.parse(readFileSync(url, 'utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

const BIOME = fileURLToPath(new URL('../node_modules/@biomejs/biome/bin/biome', import.meta.url));

/** Writes the results JSON laid out the way the formatter (biome) wants it, so lint stays clean. */
function writeJson(url: URL, value: Record<string, unknown>): void {
  writeFileSync(url, `${JSON.stringify(value, null, 2)}\n`);
  if (!existsSync(BIOME)) return;
  try {
    execFileSync(process.execPath, [BIOME, 'format', '--write', fileURLToPath(url)], {
      stdio: 'ignore',
    });
  } catch {
    console.error('bench: could not format latest.json with biome; run npm run format');
  }
}

function readText(url: URL): string {
  try {
    return readFileSync(url, 'utf8');
  } catch {
    return '# Benchmark results\n\nWritten by `npm run bench` (see [bench/README.md](../README.md)); each section is replaced by its benchmark.\n';
  }
}

/** Pads Markdown tables the way the formatter (biome) lays them out, so results stay lint-clean. */
function alignTables(markdown: string): string {
  const lines = markdown.split('\n');
  const cellsOf = (line: string) =>
    line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
  const width = (text: string) => [...text].length;
  for (let start = 0; start < lines.length; start++) {
    if (!lines[start]?.startsWith('|')) continue;
    let end = start;
    while (lines[end + 1]?.startsWith('|')) end++;
    const rows = lines.slice(start, end + 1).map(cellsOf);
    const widths = rows[0]?.map((_, column) =>
      Math.max(3, ...rows.map((row, index) => (index === 1 ? 3 : width(row[column] ?? '')))),
    );
    rows.forEach((row, index) => {
      const cells = row.map((cell, column) => {
        const size = widths?.[column] ?? 3;
        return index === 1 ? '-'.repeat(size) : cell + ' '.repeat(size - width(cell));
      });
      lines[start + index] = `| ${cells.join(' | ')} |`;
    });
    start = end;
  }
  return lines.join('\n');
}

/** Replaces (or appends) the section between this benchmark's markers. */
function mergeSection(document: string, name: string, section: string): string {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${section.trimEnd()}\n${end}`;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from !== -1 && to > from)
    return `${document.slice(0, from)}${block}${document.slice(to + end.length)}`;
  return `${document.trimEnd()}\n\n${block}\n`;
}

const round2 = (value: number | undefined) => Number((value ?? 0).toFixed(2));

mkdirSync(RESULTS, { recursive: true });
const jsonUrl = new URL('latest.json', RESULTS);
const mdUrl = new URL('latest.md', RESULTS);
let failed = false;
for (const benchmark of BENCHMARKS) {
  if (only !== undefined && benchmark.name !== only) continue;
  console.error(`bench: running ${benchmark.name}…`);
  try {
    const started = performance.now();
    const loadBefore = loadavg();
    const result = await benchmark.run();
    // The machine is shared: the load around each section says how far to trust its figures.
    const context = {
      seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      loadAverage1m: { before: round2(loadBefore[0]), after: round2(loadavg()[0]) },
      quick,
    };
    const json = readJson(jsonUrl);
    json[benchmark.name] =
      result !== null && typeof result === 'object' ? { ...result, run: context } : result;
    writeJson(jsonUrl, json);
    const markdown = alignTables(
      `${benchmark.markdown(result as never).trimEnd()}\n\n_Section ran ${context.seconds} s${quick ? ' (--quick)' : ''}; 1-minute load average ${context.loadAverage1m.before} before, ${context.loadAverage1m.after} after._`,
    );
    writeFileSync(mdUrl, `${mergeSection(readText(mdUrl), benchmark.name, markdown).trimEnd()}\n`);
    console.log(markdown);
  } catch (error) {
    failed = true;
    console.error(`bench: ${benchmark.name} failed:`, error);
  }
}
const totalSeconds = Number((performance.now() / 1000).toFixed(1));
console.error(`bench: done in ${totalSeconds} s.`);
if (only === undefined && !failed) {
  // The whole run, when every section ran: it should stay under 5 minutes on 2 cores.
  const whole = {
    seconds: totalSeconds,
    cores: availableParallelism(),
    node: process.version,
    date: new Date().toISOString(),
    loadAverage: loadavg().map(round2),
    quick,
  };
  const json = readJson(jsonUrl);
  json.run = whole;
  writeJson(jsonUrl, json);
  const summary = `## The whole run\n\n\`npm run bench\`${quick ? ' --quick' : ''}: every section in ${whole.seconds} s on ${whole.cores} cores, Node ${whole.node}, ${whole.date.slice(0, 10)}; load average at the end ${whole.loadAverage.join(' / ')} (1, 5, 15 min). The machine is shared: compare ratios within a section, not absolute figures across runs.`;
  writeFileSync(mdUrl, `${mergeSection(readText(mdUrl), 'run', summary).trimEnd()}\n`);
  console.log(summary);
}
if (quick) console.error('bench: --quick run; figures are rough.');
process.exitCode = failed ? 1 : 0;
