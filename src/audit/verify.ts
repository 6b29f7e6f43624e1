import { existsSync, readFileSync } from 'node:fs';
import { type ChainState, checkLine, GENESIS_HASH } from './chain.ts';
import { rotatedSet } from './rotated-set.ts';

export interface AuditVerification {
  readonly ok: boolean;
  readonly files: readonly string[];
  readonly records: number;
  /** True when the first record is the first of the chain (prev = genesis, seq = 1). */
  readonly anchored: boolean;
  readonly firstBroken?: {
    readonly file: string;
    /** 1-based line number in that file. */
    readonly line: number;
    readonly problem: string;
  };
}

/**
 * Verifies one audit file, or a rotated set: given the active file (or any member of its set)
 * and rotated siblings exist, every file of the set is checked in order, the chain running across
 * file boundaries. Names the first broken record.
 */
export function verifyAuditTrail(path: string): AuditVerification {
  const activePath = path.replace(/\.\d+$/, '');
  const { rotated } = rotatedSet(activePath);
  const files =
    rotated.length > 0 ? [...rotated, ...(existsSync(activePath) ? [activePath] : [])] : [path];
  let state: ChainState | undefined;
  let records = 0;
  let anchored = false;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    const complete = text.endsWith('\n') || text === '';
    if (complete) lines.pop();
    for (const [index, line] of lines.entries()) {
      const isPartialTail = !complete && index === lines.length - 1;
      const result = isPartialTail
        ? ({ ok: false, problem: 'incomplete last line (the writer stopped mid-record)' } as const)
        : checkLine(line, state);
      if (!result.ok) {
        return {
          ok: false,
          files,
          records,
          anchored,
          firstBroken: { file, line: index + 1, problem: result.problem },
        };
      }
      if (state === undefined)
        anchored = result.state.seq === 1 && line.includes(`"prev":"${GENESIS_HASH}"`);
      state = result.state;
      records++;
    }
  }
  return { ok: true, files, records, anchored };
}
