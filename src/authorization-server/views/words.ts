/** Lifetimes and dates as people read them on the pages. */

const UNITS: readonly [number, string][] = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

/** 900 000 → "15 minutes", 2 592 000 000 → "30 days", 5 400 000 → "90 minutes". */
export function durationInWords(ms: number): string {
  for (const [size, name] of UNITS) {
    if (ms >= size && ms % size === 0) {
      const count = ms / size;
      return `${count} ${name}${count === 1 ? '' : 's'}`;
    }
  }
  for (const [size, name] of UNITS) {
    if (ms >= size) {
      const count = Math.round(ms / size);
      return `about ${count} ${name}${count === 1 ? '' : 's'}`;
    }
  }
  return 'less than a second';
}

/** A fixed, unambiguous form: "2026-12-04 21:44 UTC". */
export function dateInWords(ms: number | undefined): string {
  if (ms === undefined) return 'never';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
