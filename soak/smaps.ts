/**
 * Where a process's resident memory lives, from /proc/<pid>/smaps: V8 heap pages, glibc malloc
 * arenas (the main heap and the 64 MiB per-thread arenas), file-backed mappings (code), and other
 * anonymous mappings. Used beside a soak run to tell the JavaScript heap taking room from native
 * memory or the allocator growing.
 *
 *   node soak/smaps.ts <pid>
 */
import { readFileSync } from 'node:fs';

interface Mapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly perms: string;
  readonly name: string;
  rssKb: number;
}

/** glibc reserves each thread arena as 64 MiB, aligned (HEAP_MAX_SIZE on 64-bit Linux). */
const ARENA = 64n << 20n;
/** V8 allocates its heap in pages of 256 KiB. */
const V8_PAGE = 256n << 10n;

export function mappings(pid: number): Mapping[] {
  const out: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      out.push({
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3] ?? '',
        name: (head[4] ?? '').trim(),
        rssKb: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    const last = out.at(-1);
    if (rss !== null && last !== undefined) last.rssKb = Number(rss[1]);
  }
  return out;
}

export function classify(all: readonly Mapping[]): Map<string, { maps: number; rssKb: number }> {
  const groups = new Map<string, { maps: number; rssKb: number }>();
  all.forEach((mapping, index) => {
    const next = all[index + 1];
    let kind: string;
    if (mapping.name.startsWith('/')) kind = 'file-backed (code, libraries)';
    else if (mapping.name === '[heap]') kind = 'malloc main arena ([heap])';
    else if (mapping.name !== '') kind = mapping.name;
    else if (
      mapping.perms === 'rw-p' &&
      mapping.start % ARENA === 0n &&
      next !== undefined &&
      next.perms === '---p' &&
      next.start === mapping.end &&
      next.end - mapping.start === ARENA
    )
      kind = 'malloc thread arenas';
    else if (mapping.perms === 'rw-p' && mapping.end - mapping.start === V8_PAGE)
      kind = 'V8 heap pages';
    else kind = `other anonymous ${mapping.perms}`;
    const group = groups.get(kind) ?? { maps: 0, rssKb: 0 };
    group.maps++;
    group.rssKb += mapping.rssKb;
    groups.set(kind, group);
  });
  return groups;
}

function main(): void {
  const pid = Number(process.argv[2]);
  if (!Number.isInteger(pid) || pid <= 0) {
    console.error('usage: node soak/smaps.ts <pid>');
    process.exitCode = 2;
    return;
  }
  const groups = [...classify(mappings(pid))].sort(([, a], [, b]) => b.rssKb - a.rssKb);
  const total = groups.reduce((sum, [, group]) => sum + group.rssKb, 0);
  console.log(`${(total / 1024).toFixed(1)} MiB resident`);
  for (const [kind, group] of groups.slice(0, 10)) {
    console.log(
      `${(group.rssKb / 1024).toFixed(1).padStart(8)} MiB  ${String(group.maps).padStart(4)} maps  ${kind}`,
    );
  }
}

if (import.meta.main) main();
