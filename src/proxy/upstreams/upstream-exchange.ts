import { Readable } from 'node:stream';
import { type Dispatcher, errors as undiciErrors } from 'undici';

/**
 * One request to an HTTP upstream as undici's dispatch handler: the answer's head settles a
 * promise with a stream of its body, or — a small answer of declared length, when asked — the
 * whole body in one buffer, with no request API layers, body stream or async iterator between.
 * Cancelling it aborts the request through undici's controller.
 */

/** Largest upstream answer of declared length that is read whole rather than streamed. */
const BUFFERED_BODY_MAX = 256 * 1024;

/**
 * An upstream answer: status and headers, and either the body read whole (a small answer of
 * declared length, when the caller allowed it) or the body still to read.
 */
export type UpstreamAnswer = {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
} & (
  | { readonly whole: Buffer; readonly body?: undefined }
  | { readonly whole?: undefined; readonly body: Readable }
);

function ignoreStreamError(): void {}

/**
 * Cancels one upstream request: made per request instead of an AbortController (cheaper, and no
 * DOMException unless a request is actually cancelled). The exchange under way, if any, listens.
 */
export class Cancel {
  cancelled = false;
  /** Stops the exchange under way; set by it while it runs. */
  onCancel: (() => void) | undefined;

  abort(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.onCancel?.();
  }
}

/** Why undici stopped a request the gateway cancelled. */
const CANCELLED = 'the gateway cancelled the upstream request';

/**
 * One upstream request as undici's dispatch handler (undici Dispatcher.DispatchHandler). It
 * settles `answer` at the response head with a stream of the body, or — for a small answer of
 * declared length, when `whole` — once the body is complete, with the body in one buffer. A
 * failure before `answer` settles rejects it; one after errors the body stream.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly answer: Promise<UpstreamAnswer>;
  readonly #cancel: Cancel;
  readonly #whole: boolean;
  #resolve!: (answer: UpstreamAnswer) => void;
  #reject!: (error: unknown) => void;
  #settled = false;
  #statusCode = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  /** The body so far, when read whole. */
  #chunks: Buffer[] | undefined;
  /** The body, when streamed. */
  #body: Readable | undefined;
  #ended = false;

  /** True once the upstream's answer has begun (its head arrived). */
  get answering(): boolean {
    return this.#statusCode !== 0;
  }

  constructor(cancel: Cancel, whole: boolean) {
    this.#cancel = cancel;
    this.#whole = whole;
    this.answer = new Promise<UpstreamAnswer>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#cancel.cancelled) {
      controller.abort(new undiciErrors.RequestAbortedError(CANCELLED));
      return;
    }
    this.#cancel.onCancel = () => controller.abort(new undiciErrors.RequestAbortedError(CANCELLED));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // Interim (1xx) answers are not the answer.
    if (statusCode < 200) return;
    this.#statusCode = statusCode;
    this.#headers = headers;
    const type = headers['content-type'];
    const declared = Number(headers['content-length']);
    if (
      this.#whole &&
      !(typeof type === 'string' && type.toLowerCase().startsWith('text/event-stream')) &&
      Number.isSafeInteger(declared) &&
      declared <= BUFFERED_BODY_MAX
    ) {
      this.#chunks = [];
      return;
    }
    const body = new Readable({
      read: () => controller.resume(),
      destroy: (error, callback) => {
        // A body dropped before its end stops the request (and frees its connection).
        if (!this.#ended) controller.abort(error ?? new undiciErrors.RequestAbortedError());
        callback(error);
      },
    });
    // A body cut short (the client left, the session closed) errors the stream; whoever reads
    // it sees that through its reader, so the event itself must not become an uncaught error.
    body.on('error', ignoreStreamError);
    this.#body = body;
    this.#settle({ statusCode, headers, body });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#chunks !== undefined) {
      this.#chunks.push(chunk);
      return;
    }
    if (this.#body !== undefined && !this.#body.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#cancel.onCancel = undefined;
    if (this.#chunks !== undefined) {
      const whole = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
      this.#settle({
        statusCode: this.#statusCode,
        headers: this.#headers,
        whole: whole ?? Buffer.alloc(0),
      });
      return;
    }
    this.#body?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#ended = true;
    this.#cancel.onCancel = undefined;
    if (!this.#settled) {
      this.#settled = true;
      this.#reject(error);
      return;
    }
    this.#body?.destroy(error);
  }

  #settle(answer: UpstreamAnswer): void {
    this.#settled = true;
    this.#resolve(answer);
  }
}
