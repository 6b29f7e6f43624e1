import { isRecord } from '../../mcp/index.ts';
import { parseSseEvent, SseSplitter } from '../sse.ts';

/**
 * Reads the JSON-RPC messages of a 2025-era answer one at a time, whether it came as one JSON
 * body or as an SSE stream (basic/transports, 2025-11-25 "Sending Messages to the Server"), so
 * that a bridge can react to each message as it arrives. Events whose data is not a JSON object
 * are skipped.
 */
/**
 * An answer whose body is already in memory (status, plain headers, text or bytes), as the
 * gateway's own bounded answers are; a Web Response is read as a stream.
 */
export interface InMemoryAnswer {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array | undefined;
}

export class MessageReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #isSse: boolean;
  readonly #splitter = new SseSplitter();
  readonly #decoder = new TextDecoder();
  readonly #queue: Readonly<Record<string, unknown>>[] = [];
  #text = '';
  #done = false;

  constructor(answer: Response | InMemoryAnswer) {
    const contentType =
      answer instanceof Response
        ? (answer.headers.get('content-type') ?? '')
        : (answer.headers['content-type'] ?? '');
    this.#isSse = contentType.toLowerCase().startsWith('text/event-stream');
    if (answer instanceof Response) {
      this.#reader = answer.body?.getReader();
      if (this.#reader === undefined) this.#done = true;
      return;
    }
    this.#reader = undefined;
    this.#done = true;
    const body = answer.body;
    if (body !== undefined) {
      this.#take(typeof body === 'string' ? body : this.#decoder.decode(body), true);
    }
  }

  /** The next message, or undefined when the answer has ended. */
  async next(): Promise<Readonly<Record<string, unknown>> | undefined> {
    while (this.#queue.length === 0) {
      if (this.#done || this.#reader === undefined) return undefined;
      let chunk: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;
      try {
        chunk = await this.#reader.read();
      } catch {
        this.#done = true;
        return undefined;
      }
      if (chunk.done) {
        this.#done = true;
        this.#take(this.#decoder.decode(), true);
      } else {
        this.#take(this.#decoder.decode(chunk.value, { stream: true }), false);
      }
    }
    return this.#queue.shift();
  }

  /** Stops reading; the upstream sees its stream closed. */
  cancel(): void {
    this.#done = true;
    this.#reader?.cancel().catch(() => {});
  }

  #take(text: string, last: boolean): void {
    if (!this.#isSse) {
      this.#text += text;
      if (last) this.#push(this.#text);
      return;
    }
    for (const block of this.#splitter.push(text)) {
      const event = parseSseEvent(block);
      if (event.data !== undefined && (event.event ?? 'message') === 'message') {
        this.#push(event.data);
      }
    }
  }

  #push(text: string): void {
    try {
      const value: unknown = JSON.parse(text);
      if (isRecord(value)) this.#queue.push(value);
    } catch {
      // Not a message: nothing to relay.
    }
  }
}
