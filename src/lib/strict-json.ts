/**
 * The one strict JSON parser. JSON.parse keeps the last of two equal member names while other
 * parsers keep the first (RFC 8259 §4 only says names SHOULD be unique), so a document such as
 * `{"name":"safe","name":"admin"}` could be checked as one thing and acted on as another: a
 * tool authorized as one tool and run as another, a JWT claim read as `alice` here and `admin`
 * elsewhere (RFC 8725 §3.7 asks JWT parsers to refuse duplicates), client metadata registered
 * with one redirect URI and used with another. Every decision Portcullis takes on JSON — MCP
 * bodies, JOSE headers and claims, introspection answers, client metadata — reads it through
 * this module, which refuses such documents instead of picking a winner.
 *
 * JSON.parse still does the parsing; one linear pass over the accepted text then tracks the
 * member names of each open object (decoded, so `"a"` and `"\u0061"` are one name) and the
 * nesting depth.
 */

/** Why a text was refused. */
export type StrictJsonProblem = 'syntax' | 'duplicate-member' | 'too-deep';

export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
  readonly problem: StrictJsonProblem;

  constructor(problem: StrictJsonProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}

export interface StrictJsonOptions {
  /** Deepest nesting of objects and arrays accepted; absent: no limit beyond JSON.parse's. */
  readonly maxDepth?: number;
}

/**
 * Parses JSON text, refusing invalid JSON, duplicate member names at any depth and nesting
 * beyond `maxDepth`. Throws StrictJsonError; its message names a repeated member (truncated) but
 * never quotes the document otherwise.
 */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StrictJsonError('syntax', 'the body is not valid JSON');
  }
  // Scalars have no members and no nesting: nothing to scan.
  if (value !== null && typeof value === 'object') {
    const problem = scan(text, options.maxDepth ?? Number.POSITIVE_INFINITY);
    if (problem !== undefined) throw problem;
  }
  return value;
}

/** True when some object in the (syntactically valid) JSON text repeats a member name. */
export function hasDuplicateMembers(text: string): boolean {
  return scan(text, Number.POSITIVE_INFINITY)?.problem === 'duplicate-member';
}

/**
 * One pass over text JSON.parse accepted: the first duplicate member or excessive depth, as an
 * error to throw, or undefined when the text is clean.
 */
function scan(text: string, maxDepth: number): StrictJsonError | undefined {
  // One entry per open container: the member names seen so far, or null for an array.
  const stack: (Set<string> | null)[] = [];
  let index = 0;
  while (index < text.length) {
    const code = text.charCodeAt(index);
    if (code === 0x22 /* " */) {
      const { end, escaped } = scanString(text, index);
      const members = stack[stack.length - 1];
      if (members && followedByColon(text, end)) {
        const repeated = addMember(members, text.slice(index, end + 1), escaped);
        if (repeated !== undefined) return repeated;
      }
      index = end + 1;
      continue;
    }
    if (code === 0x7b /* { */ || code === 0x5b /* [ */) {
      stack.push(code === 0x7b ? new Set() : null);
      if (stack.length > maxDepth) {
        return new StrictJsonError('too-deep', `the body nests deeper than ${maxDepth} levels`);
      }
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      stack.pop();
    }
    index++;
  }
  return undefined;
}

/** Records a member name (its quoted source text); the error when the object already has it. */
function addMember(
  members: Set<string>,
  quoted: string,
  escaped: boolean,
): StrictJsonError | undefined {
  const name = escaped ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
  if (members.has(name)) {
    return new StrictJsonError(
      'duplicate-member',
      `member name ${JSON.stringify(name.slice(0, 40))} appears twice`,
    );
  }
  members.add(name);
  return undefined;
}

/** The closing quote of the string starting at `start`, and whether the string has escapes. */
function scanString(text: string, start: number): { end: number; escaped: boolean } {
  let end = start + 1;
  let escaped = false;
  while (end < text.length) {
    const code = text.charCodeAt(end);
    if (code === 0x22) break;
    if (code === 0x5c /* \ */) {
      escaped = true;
      end += 2;
    } else end++;
  }
  return { end, escaped };
}

/** In valid JSON, a string inside an object that a colon follows is a member name. */
function followedByColon(text: string, end: number): boolean {
  let next = end + 1;
  while (next < text.length && isJsonSpace(text.charCodeAt(next))) next++;
  return text.charCodeAt(next) === 0x3a;
}

/** RFC 8259 §2: the four insignificant whitespace characters. */
function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}
