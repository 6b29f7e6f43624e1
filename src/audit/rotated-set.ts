import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * The files of a rotated audit trail, oldest first: `audit.jsonl.1`, `audit.jsonl.2`, …, then the
 * active `audit.jsonl`. Rotation renames the active file to the next free number, so numbers
 * grow with age order and the chain runs through the files in this order.
 */
export function rotatedSet(activePath: string): { rotated: string[]; numbers: number[] } {
  const dir = dirname(activePath);
  const base = basename(activePath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { rotated: [], numbers: [] };
  }
  const numbers = names
    .map((name) => (name.startsWith(`${base}.`) ? name.slice(base.length + 1) : ''))
    .filter((suffix) => /^[1-9]\d*$/.test(suffix))
    .map(Number)
    .sort((a, b) => a - b);
  return { rotated: numbers.map((n) => join(dir, `${base}.${n}`)), numbers };
}
