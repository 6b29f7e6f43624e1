/**
 * A response body the gateway writes into as messages arrive (an SSE stream to a client). The
 * queue is bounded: a client that stops reading is cut off instead of growing memory.
 */
export class PushStream {
  readonly stream: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #closed = false;
  readonly #onCancel: () => void;
  readonly #maxQueuedBytes: number;
  static readonly #encoder = new TextEncoder();

  constructor(options: { onCancel?: () => void; maxQueuedBytes?: number } = {}) {
    this.#onCancel = options.onCancel ?? (() => {});
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 8 * 1024 * 1024;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        cancel: () => {
          if (this.#closed) return;
          this.#closed = true;
          this.#onCancel();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queues text; false when the stream is closed (or was just closed for a stalled reader). */
  write(text: string): boolean {
    const controller = this.#controller;
    if (this.#closed || controller === undefined) return false;
    controller.enqueue(PushStream.#encoder.encode(text));
    if ((controller.desiredSize ?? 0) < -this.#maxQueuedBytes) {
      this.#closed = true;
      controller.error(new Error('the client stopped reading'));
      this.#onCancel();
      return false;
    }
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller?.close();
  }
}
