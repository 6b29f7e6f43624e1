/**
 * Server-sent events (HTML Living Standard §9.2) as the MCP Streamable HTTP transport uses them:
 * encoding the gateway's own events, and splitting an upstream's stream into whole events so
 * that most pass through byte for byte and only the ones the gateway must change are rebuilt.
 */

export interface SseEvent {
  readonly id?: string | undefined;
  readonly event?: string | undefined;
  readonly retry?: string | undefined;
  /** The data lines joined with "\n"; undefined when the event has none. */
  readonly data?: string | undefined;
}

export function encodeSseEvent(event: SseEvent): string {
  let out = '';
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.retry !== undefined) out += `retry: ${event.retry}\n`;
  if (event.data !== undefined) {
    for (const line of event.data.split(/\r\n|\n|\r/)) out += `data: ${line}\n`;
  }
  return `${out}\n`;
}

/** Splits a text stream into raw event blocks, each ending with its blank line. */
export class SseSplitter {
  #buffer = '';
  /** Where scanning resumes: the start of the first incomplete line in the buffer. */
  #scanned = 0;

  /** Adds text; returns the events it completed. */
  push(text: string): string[] {
    this.#buffer += text;
    const events: string[] = [];
    let eventStart = 0;
    let position = this.#scanned;
    const buffer = this.#buffer;
    while (position < buffer.length) {
      const lineEnd = nextLineEnd(buffer, position);
      if (lineEnd === undefined) break;
      const [terminatorAt, after] = lineEnd;
      if (terminatorAt === position) {
        // An empty line dispatches the event (§9.2.6).
        events.push(buffer.slice(eventStart, after));
        eventStart = after;
      }
      position = after;
    }
    this.#buffer = buffer.slice(eventStart);
    this.#scanned = position - eventStart;
    return events;
  }

  /** What is left when the stream ends (an event without its blank line is discarded, §9.2.6). */
  get pending(): string {
    return this.#buffer;
  }
}

/** [index of the line terminator, index after it], or undefined when the line is incomplete. */
function nextLineEnd(text: string, from: number): [number, number] | undefined {
  for (let index = from; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (char === 0x0a) return [index, index + 1];
    if (char === 0x0d) {
      // A CR at the end of the buffer may be the first half of CRLF: wait for more.
      if (index + 1 >= text.length) return undefined;
      return [index, text.charCodeAt(index + 1) === 0x0a ? index + 2 : index + 1];
    }
  }
  return undefined;
}

/** Parses one raw event block. */
export function parseSseEvent(block: string): SseEvent {
  let id: string | undefined;
  let event: string | undefined;
  let retry: string | undefined;
  const data: string[] = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'retry') retry = value;
  }
  return { id, event, retry, data: data.length === 0 ? undefined : data.join('\n') };
}
