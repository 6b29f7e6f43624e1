import type { Principal, RequestHeaders } from '../auth-stage.ts';
import type { ExchangeContext } from '../sessions.ts';

/**
 * "The client went away", whichever way a request or exchange context tells it: an AbortSignal
 * (`signal`), or a listener registration (`onClientGone`), which the gateway's hot path prefers
 * because almost every request completes. The modern path works with AbortSignals inside
 * (undici takes one) and converts at its edges here.
 */
interface ClientGoneCarrier {
  readonly signal?: AbortSignal;
  onClientGone?(listener: () => void): () => void;
}

/** Calls `listener` when the client goes away (at once if it already has); returns the undo. */
export function whenClientGone(carrier: object, listener: () => void): () => void {
  const source = carrier as ClientGoneCarrier;
  if (typeof source.onClientGone === 'function') return source.onClientGone(listener);
  const signal = source.signal;
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    listener();
    return () => {};
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/** An AbortSignal that aborts when the client goes away. */
export function clientSignalOf(carrier: object): AbortSignal {
  const existing = (carrier as ClientGoneCarrier).signal;
  if (existing !== undefined) return existing;
  const controller = new AbortController();
  whenClientGone(carrier, () => controller.abort());
  return controller.signal;
}

/** An exchange context for a request the gateway itself sends, carrying both shapes. */
export function exchangeContext(
  principal: Principal,
  requestId: string,
  headers: RequestHeaders,
  signal: AbortSignal,
): ExchangeContext {
  const context = {
    principal,
    requestId,
    headers,
    signal,
    onClientGone: (listener: () => void) => whenClientGone({ signal }, listener),
  };
  return context;
}
