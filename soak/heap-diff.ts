/**
 * Compares two V8 heap snapshots by constructor: how many objects of each kind, and their own
 * size, in each, and what grew most. Used on the snapshots `soak/run.ts --snapshot-dir` writes
 * at the end of the warm-up and at the end of the run: a kind whose count keeps climbing under a
 * steady load is what is being retained.
 *
 *   node soak/heap-diff.ts warm.heapsnapshot end.heapsnapshot [--top 40]
 */
import { readFileSync } from 'node:fs';

interface HeapSnapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly [readonly string[], ...unknown[]];
    };
  };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

interface Kind {
  count: number;
  bytes: number;
}

/** Objects grouped by "type:name" (e.g. "object:Map", "closure:onData", "string:"). */
export function kinds(path: string): Map<string, Kind> {
  const heap = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, Kind>();
  for (let base = 0; base < heap.nodes.length; base += width) {
    const type = types[heap.nodes[base + typeAt] ?? 0] ?? '?';
    // Strings, numbers and code are grouped by type alone: their "name" is their content.
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'array';
    const name = named ? (heap.strings[heap.nodes[base + nameAt] ?? 0] ?? '?') : '';
    const key = `${type}:${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += heap.nodes[base + sizeAt] ?? 0;
    out.set(key, entry);
  }
  return out;
}

function main(): void {
  const [before, after] = process.argv.slice(2).filter((arg) => arg.endsWith('.heapsnapshot'));
  if (before === undefined || after === undefined) {
    console.error('usage: node soak/heap-diff.ts A.heapsnapshot B.heapsnapshot [--top N]');
    process.exitCode = 2;
    return;
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex === -1 ? 40 : Number(process.argv[topIndex + 1]);
  const a = kinds(before);
  const b = kinds(after);
  const total = (map: Map<string, Kind>) =>
    [...map.values()].reduce(
      (sum, kind) => ({ count: sum.count + kind.count, bytes: sum.bytes + kind.bytes }),
      {
        count: 0,
        bytes: 0,
      },
    );
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
    const was = a.get(key) ?? { count: 0, bytes: 0 };
    const now = b.get(key) ?? { count: 0, bytes: 0 };
    return { key, was, now, dCount: now.count - was.count, dBytes: now.bytes - was.bytes };
  });
  const ta = total(a);
  const tb = total(b);
  console.log(
    `objects ${ta.count} -> ${tb.count} (${tb.count - ta.count}), self bytes ${ta.bytes} -> ${tb.bytes} (${tb.bytes - ta.bytes})`,
  );
  console.log('\nby growth of self bytes:');
  for (const row of rows.sort((x, y) => y.dBytes - x.dBytes).slice(0, top)) {
    console.log(
      `${String(row.dBytes).padStart(10)} B ${String(row.dCount).padStart(8)} #  ${row.was.count} -> ${row.now.count}  ${row.key}`,
    );
  }
  console.log('\nby growth of count:');
  for (const row of rows.sort((x, y) => y.dCount - x.dCount).slice(0, top)) {
    console.log(
      `${String(row.dCount).padStart(8)} # ${String(row.dBytes).padStart(10)} B  ${row.was.count} -> ${row.now.count}  ${row.key}`,
    );
  }
}

if (import.meta.main) main();
