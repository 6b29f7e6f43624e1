import type { JSONRPCMessage, Transport, TransportSendOptions } from '@modelcontextprotocol/server';

/**
 * Wraps the local stdio transport so the bridge can read the local client's opening message
 * (an `initialize` request, or a 2026-07-28 request carrying its `_meta` envelope) before
 * whoever serves the connection attaches: which era the local client speaks, and what it can
 * answer (elicitation, sampling, roots), decide how the remote side is connected. Messages are
 * held until `start()` and then delivered in order.
 */
export class OpeningTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly #inner: Transport;
  readonly #held: JSONRPCMessage[] = [];
  #holding = true;
  #started = false;
  #closed = false;
  #resolveOpening!: (message: JSONRPCMessage | undefined) => void;
  #resolveClosed!: () => void;
  /** The first message, or undefined when the local side closed before sending one. */
  readonly opening: Promise<JSONRPCMessage | undefined>;
  /** Resolves when the local side has closed. */
  readonly closed: Promise<void>;

  constructor(inner: Transport) {
    this.#inner = inner;
    this.opening = new Promise((resolve) => {
      this.#resolveOpening = resolve;
    });
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    inner.onmessage = (message) => {
      if (this.#holding) {
        if (this.#held.length === 0) this.#resolveOpening(message);
        this.#held.push(message);
        return;
      }
      this.onmessage?.(message);
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#resolveOpening(undefined);
      this.#resolveClosed();
      this.onclose?.();
    };
  }

  /** Starts reading the local side, before anyone serves it. */
  async listen(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#inner.start();
  }

  /** Called by whoever serves the connection: held messages are delivered now, in order. */
  async start(): Promise<void> {
    await this.listen();
    // Delivered on the next turn, once the caller has finished wiring its handlers; anything
    // arriving meanwhile is still held, so the order is kept.
    await Promise.resolve();
    for (const message of this.#held.splice(0)) this.onmessage?.(message);
    this.#holding = false;
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
