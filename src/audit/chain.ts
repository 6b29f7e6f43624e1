import { hash } from 'node:crypto';

/**
 * Hash chain over JSONL records. Every line is the JSON of a record that carries `seq`, `prev`
 * (the `hash` of the record before it; zeros for the first record ever) and, last, its own
 * `hash`: SHA-256 of the exact line bytes before `,"hash":…`. A changed byte breaks the record's
 * own hash; a deleted, inserted or reordered line breaks the next record's `prev` or `seq`.
 */
export const GENESIS_HASH = '0'.repeat(64);

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

export interface ChainState {
  readonly seq: number;
  readonly hash: string;
}

export const EMPTY_CHAIN: ChainState = { seq: 0, hash: GENESIS_HASH };

/** Serializes a record onto the chain; returns the line (without newline) and the new state. */
export function chainRecord(
  record: Record<string, unknown>,
  state: ChainState,
): { line: string; state: ChainState } {
  return chainMembers(JSON.stringify(record).slice(1, -1), state);
}

/**
 * The same for a record already serialized: `members` is the JSON object's members without the
 * braces (`"time":"…","event":"…"`), as the sink builds them from pre-serialized parts.
 */
export function chainMembers(
  members: string,
  state: ChainState,
): { line: string; state: ChainState } {
  const seq = state.seq + 1;
  const body = `{${members === '' ? '' : `${members},`}"seq":${seq},"prev":"${state.hash}"`;
  const hash = sha256(body);
  return { line: `${body},"hash":"${hash}"}`, state: { seq, hash } };
}

export type LineCheck =
  | { readonly ok: true; readonly state: ChainState }
  | { readonly ok: false; readonly problem: string };

/** Checks one line against the chain state that precedes it. */
export function checkLine(line: string, previous: ChainState | undefined): LineCheck {
  const match = HASH_SUFFIX.exec(line);
  if (!match) return { ok: false, problem: 'not a chained audit record (no trailing hash)' };
  const claimed = match[1] ?? '';
  const unsigned = line.slice(0, match.index);
  if (sha256(unsigned) !== claimed)
    return { ok: false, problem: 'record content does not match its hash (modified)' };
  let parsed: { seq?: unknown; prev?: unknown };
  try {
    parsed = JSON.parse(`${unsigned}}`) as { seq?: unknown; prev?: unknown };
  } catch {
    return { ok: false, problem: 'record is not valid JSON' };
  }
  if (typeof parsed.seq !== 'number' || typeof parsed.prev !== 'string') {
    return { ok: false, problem: 'record lacks seq or prev' };
  }
  if (previous !== undefined) {
    if (parsed.prev !== previous.hash) {
      return {
        ok: false,
        problem:
          'prev does not match the previous record (a record was removed, inserted or reordered)',
      };
    }
    if (parsed.seq !== previous.seq + 1) {
      return { ok: false, problem: `seq ${parsed.seq} does not follow ${previous.seq}` };
    }
  }
  return { ok: true, state: { seq: parsed.seq, hash: claimed } };
}

/** One-shot hashing: no Hash object per record (the writer hashes every record it chains). */
function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}
