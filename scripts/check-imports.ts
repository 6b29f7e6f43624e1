/**
 * Import-direction check: a module may import its own folder and any folder in a
 * lower layer, never a folder in the same or a higher layer. Files directly under src/ are the
 * package's public entry points and sit above every layer.
 *
 *   lib ← errors ← config ← net, store, audit, metrics
 *       ← resource-server, authorization-server, client, mcp ← proxy ← http ← assembly ← cli
 *
 * Usage: node scripts/check-imports.ts [SRC_DIR]   (exit 1 and one line per violation)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const LAYERS: readonly (readonly string[])[] = [
  ['lib'],
  ['errors'],
  ['config'],
  ['net', 'store', 'audit', 'metrics'],
  ['resource-server', 'authorization-server', 'client', 'mcp'],
  ['proxy'],
  ['http'],
  ['assembly'],
  ['cli'],
];

const ENTRY_LAYER = LAYERS.length;

function layerOf(folder: string): number | undefined {
  const index = LAYERS.findIndex((layer) => layer.includes(folder));
  return index === -1 ? undefined : index;
}

/** Static imports, re-exports and dynamic imports with a literal specifier. */
const IMPORT_PATTERN =
  /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importsOf(source: string): string[] {
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...withoutComments.matchAll(IMPORT_PATTERN)]
    .map((match) => match[1] ?? match[2] ?? match[3])
    .filter((specifier): specifier is string => specifier !== undefined);
}

function listSourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listSourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The top-level folder under src a path belongs to, or '' for an entry point file. */
function folderOf(srcDir: string, file: string): string {
  const parts = relative(srcDir, file).split(sep);
  return parts.length > 1 ? (parts[0] ?? '') : '';
}

export function checkImports(srcDir: string): string[] {
  const root = resolve(srcDir);
  const violations: string[] = [];
  for (const file of listSourceFiles(root)) {
    const from = folderOf(root, file);
    const fromLayer = from === '' ? ENTRY_LAYER : layerOf(from);
    const where = relative(process.cwd(), file);
    if (fromLayer === undefined) {
      violations.push(
        `${where}: folder src/${from} is not in the layer list (scripts/check-imports.ts)`,
      );
      continue;
    }
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(root + sep)) {
        violations.push(`${where}: imports ${specifier}, outside src/`);
        continue;
      }
      const to = folderOf(root, target);
      if (to === from) continue;
      const toLayer = to === '' ? ENTRY_LAYER : layerOf(to);
      if (toLayer === undefined || toLayer >= fromLayer) {
        violations.push(
          `${where}: src/${from || '(entry)'} may not import src/${to || '(entry)'} (${specifier}); imports point downward only (layers: scripts/check-imports.ts)`,
        );
      }
    }
  }
  return violations;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const violations = checkImports(process.argv[2] ?? 'src');
  for (const line of violations) console.error(line);
  if (violations.length > 0) {
    console.error(`import-direction check: ${violations.length} violation(s)`);
    process.exit(1);
  }
  console.log('import-direction check: ok');
}
