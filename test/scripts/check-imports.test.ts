import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkImports, importsOf } from '../../scripts/check-imports.ts';
import { REPO_ROOT, tempDir } from '../helpers/cli.ts';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/import-direction');

function tree(files: Record<string, string>): string {
  const root = tempDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('import-direction check', () => {
  it('fails on the violating fixture (real process, exit 1)', () => {
    const result = spawnSync(
      process.execPath,
      ['scripts/check-imports.ts', join(FIXTURES, 'bad/src')],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      },
    );
    assert.equal(result.status, 1);
    assert.match(result.stderr, /src\/lib may not import src\/config/);
  });

  it('passes the conforming fixture', () => {
    assert.deepEqual(checkImports(join(FIXTURES, 'good/src')), []);
  });

  it('passes the project itself', () => {
    assert.deepEqual(checkImports(join(REPO_ROOT, 'src')), []);
  });

  const violations: { name: string; files: Record<string, string>; says: RegExp }[] = [
    {
      name: 'same-layer sibling import',
      files: {
        'client/a.ts': "import { b } from '../resource-server/b.ts';\nexport const a = b;",
        'resource-server/b.ts': 'export const b = 1;',
      },
      says: /src\/client may not import src\/resource-server/,
    },
    {
      name: 're-export from a higher layer',
      files: {
        'errors/a.ts': "export { x } from '../cli/x.ts';",
        'cli/x.ts': 'export const x = 1;',
      },
      says: /src\/errors may not import src\/cli/,
    },
    {
      name: 'dynamic import from a higher layer',
      files: {
        'config/a.ts': "export const m = await import('../http/x.ts');",
        'http/x.ts': 'export {};',
      },
      says: /src\/config may not import src\/http/,
    },
    {
      name: 'multi-line import from a higher layer',
      files: {
        'net/a.ts':
          "import {\n  one,\n  two,\n} from '../proxy/x.ts';\nexport const a = [one, two];",
        'proxy/x.ts': 'export const one = 1; export const two = 2;',
      },
      says: /src\/net may not import src\/proxy/,
    },
    {
      name: 'a layer module importing a package entry point',
      files: { 'lib/a.ts': "import '../index.ts';", 'index.ts': 'export {};' },
      says: /src\/lib may not import src\/\(entry\)/,
    },
    {
      name: 'an unknown top-level folder',
      files: { 'misc/a.ts': 'export {};' },
      says: /src\/misc is not in the layer list/,
    },
  ];
  for (const c of violations) {
    it(`catches: ${c.name}`, () => {
      const found = checkImports(tree(c.files));
      assert.equal(found.length, 1, found.join('\n'));
      assert.match(found[0] ?? '', c.says);
    });
  }

  it('positive control: downward imports, own-folder imports and packages pass', () => {
    const root = tree({
      'cli/main.ts':
        "import { a } from '../http/a.ts';\nimport { z } from 'zod';\nimport { c } from './c.ts';\nexport { a, z, c };",
      'cli/c.ts': 'export const c = 1;',
      'http/a.ts': "import { l } from '../lib/l.ts';\nexport const a = l;",
      'lib/l.ts': 'export const l = 1;',
      'index.ts': "export * from './cli/main.ts';",
    });
    assert.deepEqual(checkImports(root), []);
  });

  it('ignores imports in comments', () => {
    assert.deepEqual(
      importsOf("// import x from '../cli/x.ts'\n/* import('../http/y.ts') */\nexport {};"),
      [],
    );
  });
});
