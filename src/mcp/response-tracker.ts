import { idKey, isRecord, type JsonRpcId } from './json-rpc.ts';

/**
 * Which message from an upstream is the answer to which request the gateway forwarded: the one
 * rule, for answers that arrive as a JSON body, as an SSE event, or as a line from a stdio child.
 *
 * JSON-RPC 2.0 §5 says a response has an `id` and exactly one of `result` and `error`. The
 * gateway is looser on purpose: any message without a `method` whose `id` is a string or a
 * number is taken as the answer to that id. A tracked answer is rewritten (tools/list and
 * initialize filtering) or routed to the stream that waits for it; an upstream that adds or
 * leaves out a member must not make an answer slip past its filter, or land on another stream,
 * merely by being malformed. Messages with a `method` are the server's own requests and
 * notifications; `id: null` answers no request the gateway can have tracked.
 */
export function answeredId(message: unknown): JsonRpcId | undefined {
  if (!isRecord(message) || Object.hasOwn(message, 'method')) return undefined;
  const id = message.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

export interface ResponseTrackerOptions {
  /**
   * Most requests tracked at once; tracking one more forgets the oldest (an upstream that never
   * answers must not grow memory). Default: unbounded, for callers that bound it themselves.
   */
  readonly maxTracked?: number;
}

/**
 * Requests awaiting their answer, keyed by JSON-RPC id (1 and "1" are different ids), each with
 * what the caller needs when the answer comes: a response filter, a waiting stream.
 */
export class ResponseTracker<T> {
  readonly #entries = new Map<string, T>();
  readonly #maxTracked: number;

  constructor(options: ResponseTrackerOptions = {}) {
    this.#maxTracked = options.maxTracked ?? Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(id: JsonRpcId): boolean {
    return this.#entries.has(idKey(id));
  }

  /** Tracks request `id`, replacing any entry it had; forgets the oldest entry when full. */
  track(id: JsonRpcId, entry: T): void {
    const key = idKey(id);
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxTracked) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
  }

  get(id: JsonRpcId): T | undefined {
    return this.#entries.get(idKey(id));
  }

  /** Stops tracking `id`; with `entry`, only while that entry is still the one tracked. */
  untrack(id: JsonRpcId, entry?: T): boolean {
    const key = idKey(id);
    if (entry !== undefined && this.#entries.get(key) !== entry) return false;
    return this.#entries.delete(key);
  }

  /** The entry tracked for `id`, removed from the tracker; undefined when none is. */
  take(id: JsonRpcId): T | undefined {
    const key = idKey(id);
    const entry = this.#entries.get(key);
    if (entry !== undefined) this.#entries.delete(key);
    return entry;
  }

  /**
   * When `message` answers a tracked request (see answeredId): that request's entry, removed,
   * with the message as a record. Undefined for anything else, which passes as it is.
   */
  takeAnswer(
    message: unknown,
  ): { readonly entry: T; readonly response: Readonly<Record<string, unknown>> } | undefined {
    const id = answeredId(message);
    if (id === undefined) return undefined;
    const entry = this.take(id);
    return entry === undefined
      ? undefined
      : { entry, response: message as Readonly<Record<string, unknown>> };
  }

  /** Like takeAnswer, for the text of one message; text that is not JSON answers nothing. */
  takeAnswerText(
    text: string,
  ): { readonly entry: T; readonly response: Readonly<Record<string, unknown>> } | undefined {
    if (this.#entries.size === 0) return undefined;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return undefined;
    }
    return this.takeAnswer(message);
  }

  /** Every tracked entry, oldest first. */
  values(): IterableIterator<T> {
    return this.#entries.values();
  }
}
