/**
 * Coverage floor for the security-critical code: the run fails when line or branch coverage
 * over these files falls below the floor. Reads the lcov file that `npm run test:node` writes
 * (node --test --experimental-test-coverage with the lcov reporter).
 *
 * Usage: node scripts/coverage-floor.ts [LCOV_FILE]   (default coverage/lcov.info)
 * Prints the totals and, below the floor, the files with the most uncovered lines/branches.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

export const FLOOR = { lines: 95, branches: 90 } as const;

/** Where authorization decisions are made: resource server, authorization server, client, gateway auth stage. */
export const GUARDED: readonly RegExp[] = [
  /^src\/resource-server\//,
  /^src\/authorization-server\//,
  /^src\/client\//,
  /^src\/proxy\/auth-stage\.ts$/,
];

export interface FileCoverage {
  readonly file: string;
  readonly linesFound: number;
  readonly linesHit: number;
  readonly branchesFound: number;
  readonly branchesHit: number;
}

/** Parses lcov records (SF … end_of_record), keeping the LF/LH/BRF/BRH totals of each file. */
export function parseLcov(text: string, root = process.cwd()): FileCoverage[] {
  const files: FileCoverage[] = [];
  let current: { -readonly [K in keyof FileCoverage]: FileCoverage[K] } | undefined;
  for (const line of text.split('\n')) {
    const [tag, value = ''] = line.split(/:(.*)/s);
    if (tag === 'SF') {
      const file = relative(root, resolve(root, value)).split('\\').join('/');
      current = { file, linesFound: 0, linesHit: 0, branchesFound: 0, branchesHit: 0 };
    } else if (current !== undefined) {
      const count = Number(value);
      if (tag === 'LF') current.linesFound = count;
      else if (tag === 'LH') current.linesHit = count;
      else if (tag === 'BRF') current.branchesFound = count;
      else if (tag === 'BRH') current.branchesHit = count;
      else if (tag === 'end_of_record') {
        files.push(current);
        current = undefined;
      }
    }
  }
  return files;
}

export interface FloorResult {
  readonly ok: boolean;
  readonly lines: number;
  readonly branches: number;
  readonly files: readonly FileCoverage[];
}

const percent = (hit: number, found: number) => (found === 0 ? 100 : (100 * hit) / found);

export function checkFloor(files: readonly FileCoverage[], guarded = GUARDED): FloorResult {
  const selected = files.filter((entry) => guarded.some((pattern) => pattern.test(entry.file)));
  const sum = (pick: (entry: FileCoverage) => number) =>
    selected.reduce((total, entry) => total + pick(entry), 0);
  const lines = percent(
    sum((e) => e.linesHit),
    sum((e) => e.linesFound),
  );
  const branches = percent(
    sum((e) => e.branchesHit),
    sum((e) => e.branchesFound),
  );
  return {
    ok: selected.length > 0 && lines >= FLOOR.lines && branches >= FLOOR.branches,
    lines,
    branches,
    files: selected,
  };
}

function main(): number {
  const path = process.argv[2] ?? 'coverage/lcov.info';
  if (!existsSync(path)) {
    console.error(`coverage floor: ${path} not found; run npm run test:node first`);
    return 1;
  }
  const result = checkFloor(parseLcov(readFileSync(path, 'utf8')));
  const line = `coverage floor: lines ${result.lines.toFixed(2)} % (floor ${FLOOR.lines}), branches ${result.branches.toFixed(2)} % (floor ${FLOOR.branches}) over ${result.files.length} files`;
  if (result.ok) {
    console.log(`${line}: ok`);
    return 0;
  }
  console.error(`${line}: BELOW THE FLOOR`);
  const worst = [...result.files]
    .map((entry) => ({
      file: entry.file,
      missingLines: entry.linesFound - entry.linesHit,
      missingBranches: entry.branchesFound - entry.branchesHit,
    }))
    .sort((a, b) => b.missingLines + b.missingBranches - (a.missingLines + a.missingBranches))
    .slice(0, 15);
  for (const entry of worst) {
    console.error(
      `  ${entry.file}: ${entry.missingLines} lines, ${entry.missingBranches} branches uncovered`,
    );
  }
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
