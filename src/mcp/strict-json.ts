/**
 * JSON parsing for authorization decisions. JSON.parse keeps the last of two equal member names
 * while other parsers keep the first (RFC 8259 §4 leaves it open), so a body such as
 * `{"name":"safe","name":"admin"}` could be authorized as one tool and run as another. The
 * gateway refuses duplicate member names and deep nesting instead of picking a winner.
 */

export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
}

export interface StrictJsonOptions {
  /** Deepest nesting of objects and arrays accepted. */
  readonly maxDepth: number;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/** Parses JSON text, refusing invalid JSON, duplicate member names and nesting beyond maxDepth. */
export function parseStrictJson(text: string, options: StrictJsonOptions): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StrictJsonError('the body is not valid JSON');
  }
  checkStructure(text, options.maxDepth);
  return value;
}

/**
 * One pass over text that JSON.parse accepted: tracks the member names of each open object
 * (decoded, so "a" and "\u0061" are the same name) and the nesting depth.
 */
function checkStructure(text: string, maxDepth: number): void {
  const stack: (Set<string> | null)[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    if (char === '"') {
      index = visitString(text, index, stack.at(-1));
      continue;
    }
    if (char === '{' || char === '[') {
      stack.push(char === '{' ? new Set() : null);
      if (stack.length > maxDepth) {
        throw new StrictJsonError(`the body nests deeper than ${maxDepth} levels`);
      }
    } else if (char === '}' || char === ']') {
      stack.pop();
    }
    index += 1;
  }
}

/**
 * Skips the string at `start`; when it is a member name of the innermost object (a colon
 * follows), records it and refuses a repeat. Returns the index after the string.
 */
function visitString(text: string, start: number, members: Set<string> | null | undefined): number {
  const end = endOfString(text, start);
  if (!members) return end;
  let next = end;
  while (next < text.length && WHITESPACE.has(text[next] ?? '')) next += 1;
  if (text[next] !== ':') return end;
  const raw = text.slice(start, end);
  const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  if (members.has(name)) {
    throw new StrictJsonError(`member name ${JSON.stringify(name)} appears twice`);
  }
  members.add(name);
  return end;
}

/** Index just past the closing quote of the string starting at `start` (valid JSON assumed). */
function endOfString(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length) {
    const char = text[index];
    if (char === '\\') index += 2;
    else if (char === '"') return index + 1;
    else index += 1;
  }
  return index;
}
