import { RequestError } from '../../errors/index.ts';

/**
 * Parses JSON text, refusing duplicate member names and nesting deeper than `maxDepth`.
 * JSON.parse keeps the last of two equal names; a document whose meaning depends on which
 * parser reads it is refused instead (RFC 8259 §4: names SHOULD be unique).
 */
export function parseStrictJson(text: string, maxDepth = 16): unknown {
  scanForDuplicates(text, maxDepth);
  return JSON.parse(text);
}

/** Where a JSON string starting at `start` (its opening quote) ends (its closing quote). */
function stringEnd(text: string, start: number): number {
  let end = start + 1;
  while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
  return end;
}

/** A small scanner over valid-or-invalid JSON text; JSON.parse still does the real parsing. */
function scanForDuplicates(text: string, maxDepth: number): void {
  // One entry per open container: the member names seen so far, or undefined for an array.
  const stack: (Set<string> | undefined)[] = [];
  let expectingKey = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '{' || char === '[') {
      stack.push(char === '{' ? new Set() : undefined);
      if (stack.length > maxDepth) {
        throw new RequestError('OAuthInvalidClientMetadata', `JSON nested deeper than ${maxDepth}`);
      }
      expectingKey = char === '{';
    } else if (char === '}' || char === ']') {
      stack.pop();
      expectingKey = false;
    } else if (char === ',') {
      expectingKey = stack.at(-1) !== undefined;
    } else if (char === '"') {
      const end = stringEnd(text, index);
      const members = stack.at(-1);
      if (expectingKey && members !== undefined) {
        addMember(members, text.slice(index, end + 1));
        expectingKey = false;
      }
      index = end;
    }
  }
}

function addMember(members: Set<string>, quoted: string): void {
  let name: string;
  try {
    name = JSON.parse(quoted) as string;
  } catch {
    return; // JSON.parse reports the syntax error
  }
  if (members.has(name)) {
    throw new RequestError(
      'OAuthInvalidClientMetadata',
      `member ${JSON.stringify(name).slice(0, 40)} appears twice`,
    );
  }
  members.add(name);
}
