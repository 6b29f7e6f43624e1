/**
 * The public API snapshot. Each subpath in package.json `exports` is an entry file under src/
 * with explicit export lists only; the names it exports (values and types) must equal the
 * committed snapshot (exports.snapshot.json) and each must be described in docs/api.md. Adding
 * or removing a name is a deliberate act: update the snapshot with
 *   UPDATE_API_SNAPSHOT=1 node --test test/api/exports.test.ts
 * and the docs, and say so in the change.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const ROOT = new URL('../../', import.meta.url);
const SNAPSHOT = new URL('exports.snapshot.json', import.meta.url);

interface EntryNames {
  readonly values: string[];
  readonly types: string[];
}

interface EntryPoint {
  /** What users import: `portcullis`, `portcullis/verify`, … */
  readonly specifier: string;
  /** The source file the published JavaScript is built from. */
  readonly source: URL;
}

/** The package's entry points, from package.json `exports` (dist/X.js is built from src/X.ts). */
function entryPoints(): EntryPoint[] {
  const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
    name: string;
    exports: Record<string, string | { default: string }>;
  };
  return Object.entries(pkg.exports)
    .filter(([subpath]) => subpath !== './package.json')
    .map(([subpath, target]) => {
      const built = typeof target === 'string' ? target : target.default;
      const match = /^\.\/dist\/(.+)\.js$/.exec(built);
      assert.ok(match, `package.json exports["${subpath}"] should point into ./dist/*.js`);
      return {
        specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
        source: new URL(`src/${match[1]}.ts`, ROOT),
      };
    });
}

const EXPORT_LIST = /\bexport\s+(type\s+)?\{([^}]*)\}\s*from\s*'[^']+'\s*;/g;

/**
 * The names an entry file exports, read from its export lists. Anything else that exports
 * (`export *`, a local declaration) is refused: the list is the API.
 */
export function listedExports(text: string): EntryNames {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const values: string[] = [];
  const types: string[] = [];
  for (const [, typeOnly, list] of code.matchAll(EXPORT_LIST)) {
    for (const raw of (list ?? '').split(',')) {
      const item = raw.trim();
      if (item === '') continue;
      const isType = typeOnly !== undefined || item.startsWith('type ');
      const name = item
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .at(-1);
      assert.ok(name && /^[A-Za-z_$][\w$]*$/.test(name), `cannot read export "${item}"`);
      (isType ? types : values).push(name);
    }
  }
  const rest = code.replace(EXPORT_LIST, '');
  const stray = /\bexport\b[^\n]*/.exec(rest);
  assert.equal(
    stray,
    null,
    `only "export { … } from '…';" lists are allowed in an entry point, found: ${stray?.[0]}`,
  );
  return { values: values.sort(), types: types.sort() };
}

function difference(actual: readonly string[], expected: readonly string[]): string {
  const added = actual.filter((name) => !expected.includes(name));
  const removed = expected.filter((name) => !actual.includes(name));
  return [
    added.length ? `added (not in the snapshot): ${added.join(', ')}` : '',
    removed.length ? `removed (still in the snapshot): ${removed.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

const snapshot = JSON.parse(readFileSync(SNAPSHOT, 'utf8')) as Record<string, EntryNames>;
const entries = entryPoints();
const current: Record<string, EntryNames> = {};

describe('public API', () => {
  for (const entry of entries) {
    describe(entry.specifier, () => {
      const names = listedExports(readFileSync(entry.source, 'utf8'));
      current[entry.specifier] = names;

      it('the runtime exports are exactly the listed values', async () => {
        const module = (await import(pathToFileURL(entry.source.pathname).href)) as object;
        const runtime = Object.keys(module).sort();
        assert.deepEqual(runtime, names.values, difference(runtime, names.values));
      });

      it('matches the committed snapshot (values and types)', () => {
        if (process.env.UPDATE_API_SNAPSHOT === '1') return;
        const expected = snapshot[entry.specifier];
        assert.ok(expected, `${entry.specifier} is not in test/api/exports.snapshot.json`);
        const message = `${entry.specifier} changed; ${[
          difference(names.values, expected.values),
          difference(names.types, expected.types),
        ]
          .filter(Boolean)
          .join('; ')}. Update test/api/exports.snapshot.json and docs/api.md deliberately.`;
        assert.deepEqual(names, expected, message);
      });

      it('every exported name is described in docs/api.md', () => {
        const docs = readFileSync(new URL('docs/api.md', ROOT), 'utf8');
        const section = docs.split(/^## /m).find((s) => s.startsWith(`\`${entry.specifier}\``));
        assert.ok(section, `docs/api.md has no "## \`${entry.specifier}\`" section`);
        const missing = [...names.values, ...names.types].filter(
          (name) => !new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`).test(section),
        );
        assert.deepEqual(missing, [], `not described in docs/api.md: ${missing.join(', ')}`);
      });
    });
  }

  it('every entry point is in the snapshot, and nothing else', () => {
    if (process.env.UPDATE_API_SNAPSHOT === '1') return;
    assert.deepEqual(Object.keys(snapshot).sort(), entries.map((entry) => entry.specifier).sort());
  });

  it('an entry with export * or a local export is refused (the reader itself)', () => {
    assert.throws(() => listedExports("export * from './x.ts';"), /only "export/);
    assert.throws(() => listedExports('export const x = 1;'), /only "export/);
    assert.deepEqual(
      listedExports("// export * from 'y'\nexport { a, type B, c as d } from './x.ts';"),
      { values: ['a', 'd'], types: ['B'] },
    );
  });
});

if (process.env.UPDATE_API_SNAPSHOT === '1') {
  process.on('beforeExit', () => {
    writeFileSync(SNAPSHOT, `${JSON.stringify(current, null, 2)}\n`);
  });
}
