/**
 * The code in README.md and docs/*.md that says it runs, runs. A fenced block opts in with a
 * word after its language:
 *   ```ts runnable    type-checked against the package's entry points, then run with node
 *   ```ts typecheck   type-checked only (it needs a real remote server)
 *   ```sh runnable    run with bash from the repository root; must exit 0
 * Imports of `portcullis`, `portcullis/verify` and `portcullis/client` are pointed at the entry
 * files under src/ (as the package's `exports` map does for the built files). Shell blocks get
 * nothing from the test but the repository and the environment: a block that needs a variable
 * sets it itself, so a reader can paste it as it is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MARKERS = ['runnable', 'typecheck'] as const;
type Marker = (typeof MARKERS)[number];

interface Block {
  /** `docs/api.md:45`: where the opening fence is. */
  readonly where: string;
  readonly language: string;
  readonly marker: Marker | undefined;
  readonly code: string;
}

/** Fenced code blocks (``` only) with their language and marker. */
export function codeBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    const words = (open[2] ?? '').split(/\s+/).filter(Boolean);
    const unknown = words.filter((word) => !(MARKERS as readonly string[]).includes(word));
    assert.deepEqual(unknown, [], `${file}:${start + 1}: unknown code block marker`);
    blocks.push({
      where: `${file}:${start + 1}`,
      language: open[1] ?? '',
      marker: words[0] as Marker | undefined,
      code: `${body.join('\n')}\n`,
    });
  }
  return blocks;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens. */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  for (const [, heading = ''] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    slugs.add(
      heading
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return slugs;
}

/** Relative links in a document whose file or heading does not exist. */
function brokenLinks(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  const broken: string[] = [];
  for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target)) continue;
    const [path = '', anchor] = target.split('#');
    const linked = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
    const exists =
      existsSync(linked) &&
      (anchor === undefined ||
        !linked.endsWith('.md') ||
        headingSlugs(readFileSync(linked, 'utf8')).has(anchor));
    if (!exists) broken.push(`${file}: ${target}`);
  }
  return broken;
}

/** Scratch space inside the repository (so node_modules resolve), outside node_modules. */
const scratch = join(ROOT, 'test-artifacts', `doc-blocks-${process.pid}`);

/** What users import (`portcullis`, `portcullis/verify`, …) → the entry file it is built from. */
const ENTRY_FILES: Readonly<Record<string, string>> = (() => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { default: string }>;
  };
  const entries: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const built = typeof target === 'string' ? target : target.default;
    const match = /^\.\/dist\/(.+)\.js$/.exec(built);
    if (!match) continue;
    entries[subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`] = join(
      ROOT,
      'src',
      `${match[1]}.ts`,
    );
  }
  return entries;
})();

/** The block as a module importing the entry files by path. */
function asModule(code: string): string {
  const rewritten = code.replace(
    /(from\s*|import\(\s*)'(portcullis(?:\/[a-z]+)?)'/g,
    (_whole, prefix: string, specifier: string) => {
      const file = ENTRY_FILES[specifier];
      assert.ok(file, `a doc block imports ${specifier}, which is not an entry point`);
      return `${prefix}'${relative(scratch, file)}'`;
    },
  );
  return `${rewritten}\nexport {};\n`;
}

const documents = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((name) => `docs/${name}`)]
  .filter((file) => file.endsWith('.md'))
  .sort();
const blocks = documents.flatMap((file) =>
  codeBlocks(file, readFileSync(join(ROOT, file), 'utf8')),
);
const tsBlocks = blocks.filter((b) => b.language === 'ts' && b.marker !== undefined);
const shBlocks = blocks.filter((b) => b.language === 'sh' && b.marker === 'runnable');

const fileOf = (block: Block) => join(scratch, `${block.where.replace(/[^A-Za-z0-9]+/g, '_')}.ts`);

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  return {
    code: result.status,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`,
  };
}

describe('code blocks in README.md and docs/', () => {
  before(() => {
    mkdirSync(scratch, { recursive: true });
    for (const block of tsBlocks) writeFileSync(fileOf(block), asModule(block.code));
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: { noUnusedLocals: false },
        include: ['*.ts'],
      }),
    );
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('there are marked blocks to check (the markers are in use)', () => {
    assert.ok(tsBlocks.some((b) => b.marker === 'runnable'));
    assert.ok(tsBlocks.some((b) => b.marker === 'typecheck'));
    assert.ok(shBlocks.length > 0);
  });

  it('every marked TypeScript block type-checks against the entry points', () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = run(process.execPath, [tsc, '--noEmit', '-p', join(scratch, 'tsconfig.json')]);
    const byBlock = tsBlocks.reduce(
      (text, block) => text.replaceAll(relative(ROOT, fileOf(block)), block.where),
      result.output,
    );
    assert.equal(result.code, 0, byBlock);
  });

  for (const block of tsBlocks.filter((b) => b.marker === 'runnable')) {
    it(`${block.where} runs`, () => {
      const result = run(process.execPath, [fileOf(block)]);
      assert.equal(result.code, 0, result.output);
    });
  }

  for (const block of shBlocks) {
    it(`${block.where} runs`, () => {
      const result = run('bash', ['-euo', 'pipefail', '-c', block.code]);
      assert.equal(result.code, 0, `${block.code}\n${result.output}`);
    });
  }

  it('relative links point at files and headings that exist', () => {
    assert.deepEqual(documents.flatMap(brokenLinks), []);
  });

  it('markers are read as documented (the reader itself)', () => {
    const found = codeBlocks(
      'x.md',
      '```ts runnable\na\n```\ntext\n```sh\nb\n```\n```ts typecheck\nc\n```\n',
    );
    assert.deepEqual(
      found.map((b) => [b.where, b.language, b.marker, b.code]),
      [
        ['x.md:1', 'ts', 'runnable', 'a\n'],
        ['x.md:5', 'sh', undefined, 'b\n'],
        ['x.md:8', 'ts', 'typecheck', 'c\n'],
      ],
    );
    assert.throws(() => codeBlocks('y.md', '```ts runable\n```\n'), /unknown code block marker/);
  });
});
