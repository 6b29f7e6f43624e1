/**
 * docs/security-cases.md defines every security case id that tests and comments cite, and cites
 * no case that nothing in the repository checks or mentions.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CASE_ID =
  /\b(?:JWT|DPOP|INT|RS|SCOPE|MCP|AZ|TK|RT|RV|IX|RG|CM|SF|HT|UP|CF)-\d{2}\b|\b[GL]\d{1,2}\b(?=[,)])/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Case ids cited in src/ and test/, with where. */
function citedIds(): Map<string, string[]> {
  const cited = new Map<string, string[]>();
  for (const file of [...sourceFiles(join(ROOT, 'src')), ...sourceFiles(join(ROOT, 'test'))]) {
    if (file === fileURLToPath(import.meta.url)) continue;
    for (const [id] of readFileSync(file, 'utf8').matchAll(CASE_ID)) {
      cited.set(id, [...(cited.get(id) ?? []), relative(ROOT, file)]);
    }
  }
  return cited;
}

function definedIds(): Set<string> {
  const page = readFileSync(join(ROOT, 'docs/security-cases.md'), 'utf8');
  return new Set([...page.matchAll(/^\| ([A-Z]+-?\d+) \|/gm)].map((match) => match[1] ?? ''));
}

it('every case id cited in src/ and test/ is defined in docs/security-cases.md, and only those', () => {
  const cited = citedIds();
  const defined = definedIds();
  const undefinedIds = [...cited.keys()].filter((id) => !defined.has(id));
  assert.deepEqual(
    undefinedIds.map((id) => `${id} (${[...new Set(cited.get(id))].join(', ')})`),
    [],
    'add these to docs/security-cases.md',
  );
  const uncited = [...defined].filter((id) => !cited.has(id));
  assert.deepEqual(uncited, [], 'defined but cited nowhere in src/ or test/');
});
