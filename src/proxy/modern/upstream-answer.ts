import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Answer } from '../responses.ts';

/**
 * One forwarded request's answer, received through undici's dispatch handler interface
 * (Dispatcher.DispatchHandler) rather than its `request` API: an answer read whole — nearly
 * every answer to a stateless request — then costs no body stream, no async resource and no
 * abort listener, only its chunks. What to make of the answer is decided once its status and
 * headers are known (`shapeOf`); this class only carries it out:
 *   empty   the answer is final already (202, 204, no body); whatever body comes is dropped;
 *   whole   the body is gathered (bounded) and turned into the answer at its end;
 *   stream  the body becomes a node stream with backpressure (SSE, large bodies), handed on
 *           at once; destroying it (the client closed its stream) aborts the upstream request.
 * When the client goes away (`cancel`), the upstream request is aborted whatever its state.
 */

/** Response headers as undici parses them (names lower-case). */
export type UpstreamHeaders = Readonly<Record<string, string | string[] | undefined>>;

export type AnswerShape =
  | { readonly kind: 'empty'; readonly answer: Answer }
  | {
      readonly kind: 'whole';
      readonly maxBytes: number;
      readonly finish: (body: Buffer) => Answer;
      /** The answer when the body outgrows `maxBytes` (the upstream request is aborted). */
      readonly tooLarge: () => Answer;
    }
  | { readonly kind: 'stream'; readonly finish: (body: Readable) => Answer };

export interface UpstreamAnswerOptions {
  /** Decides from status and headers; throws (a refusal) to drop the answer. */
  readonly shapeOf: (status: number, headers: UpstreamHeaders) => AnswerShape;
  /** What a transport failure becomes (`cancelled`: the client had gone away). */
  readonly failure: (error: Error, cancelled: boolean) => unknown;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: unknown) => void;
  /** Called once the exchange is over, whichever way it ended. */
  readonly done: () => void;
}

export class UpstreamAnswer implements Dispatcher.DispatchHandler {
  readonly #options: UpstreamAnswerOptions;
  #controller: Dispatcher.DispatchController | undefined;
  #cancelled = false;
  #settled = false;
  #finished = false;
  #whole: Extract<AnswerShape, { kind: 'whole' }> | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  #stream: Readable | undefined;

  constructor(options: UpstreamAnswerOptions) {
    this.#options = options;
  }

  /** The client went away: the upstream request is aborted, wherever it is. */
  cancel(): void {
    if (this.#cancelled || this.#finished) return;
    this.#cancelled = true;
    this.#controller?.abort(new Error('the client went away'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#cancelled) controller.abort(new Error('the client went away'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: UpstreamHeaders,
  ): void {
    // 1xx answers are interim (RFC 9110 §15.2): the final one follows.
    if (statusCode < 200) return;
    let shape: AnswerShape;
    try {
      shape = this.#options.shapeOf(statusCode, headers);
    } catch (error) {
      this.#settle(() => this.#options.reject(error));
      controller.abort(error instanceof Error ? error : new Error('refused'));
      return;
    }
    if (shape.kind === 'empty') {
      this.#settle(() => this.#options.resolve(shape.answer));
      return;
    }
    if (shape.kind === 'whole') {
      this.#whole = shape;
      return;
    }
    const stream = new Readable({
      read: () => controller.resume(),
      destroy: (error, callback) => {
        // Destroyed before its end: the reader left, so the upstream request is cancelled.
        if (!this.#finished) controller.abort(error ?? new Error('the stream was closed'));
        callback(error);
      },
    });
    this.#stream = stream;
    this.#settle(() => this.#options.resolve(shape.finish(stream)));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const whole = this.#whole;
    if (whole !== undefined) {
      this.#size += chunk.byteLength;
      if (this.#size > whole.maxBytes) {
        this.#whole = undefined;
        this.#chunks = [];
        this.#settle(() => this.#options.resolve(whole.tooLarge()));
        controller.abort(new Error('the upstream answer is too large'));
        return;
      }
      this.#chunks.push(chunk);
      return;
    }
    if (this.#stream !== undefined && !this.#stream.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.#finished = true;
    this.#options.done();
    const whole = this.#whole;
    if (whole !== undefined) {
      const chunks = this.#chunks;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      this.#settle(() => {
        try {
          this.#options.resolve(whole.finish(body));
        } catch (error) {
          this.#options.reject(error);
        }
      });
      return;
    }
    this.#stream?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    const wasFinished = this.#finished;
    this.#finished = true;
    if (!wasFinished) this.#options.done();
    if (!this.#settled) {
      this.#settle(() => this.#options.reject(this.#options.failure(error, this.#cancelled)));
      return;
    }
    if (this.#stream !== undefined && !this.#stream.destroyed) this.#stream.destroy(error);
  }

  #settle(action: () => void): void {
    if (this.#settled) return;
    this.#settled = true;
    action();
  }
}
