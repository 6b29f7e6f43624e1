/**
 * Keeps a long-lived `subscriptions/listen` stream honest (basic/transports/streamable-http
 * "Receiving Messages"): SSE comment lines as keep-alives during quiet periods, and an end to
 * the stream when the authorization it was opened with ends — at the token's expiry, or as soon
 * as a periodic check finds the grant revoked. No stream outlives its authorization.
 */

export type ListenEnd = 'expired' | 'revoked' | 'upstream-ended' | 'client-closed';

export interface ListenGuardOptions {
  /** Interval of keep-alive comments; 0 disables them. */
  readonly keepAliveMs: number;
  /** When the token expires (epoch milliseconds); undefined when it does not. */
  readonly expiresAt: number | undefined;
  /** Is the authorization still good (not revoked)? Checked every `checkEveryMs`. */
  readonly stillAuthorized: () => Promise<boolean>;
  readonly checkEveryMs: number;
  /** Called once, with why the stream ended. */
  readonly onEnd?: (reason: ListenEnd) => void;
  readonly now?: () => number;
}

const KEEP_ALIVE = new TextEncoder().encode(':\r\n\r\n');

export function guardListenStream(
  source: ReadableStream<Uint8Array>,
  options: ListenGuardOptions,
): ReadableStream<Uint8Array> {
  const now = options.now ?? Date.now;
  const reader = source.getReader();
  const timers: NodeJS.Timeout[] = [];
  let ended = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const end = (reason: ListenEnd) => {
    if (ended) return;
    ended = true;
    for (const timer of timers) clearTimeout(timer);
    reader.cancel().catch(() => {});
    if (reason !== 'client-closed') {
      try {
        controller.close();
      } catch {
        // Already closed by the reader side.
      }
    }
    options.onEnd?.(reason);
  };

  return new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      if (options.expiresAt !== undefined) {
        const remaining = options.expiresAt - now();
        if (remaining <= 0) {
          end('expired');
          return;
        }
        // setTimeout's range is 2^31-1 ms; longer tokens are caught by the periodic check.
        if (remaining < 2 ** 31 - 1) timers.push(setTimeout(() => end('expired'), remaining));
      }
      if (options.keepAliveMs > 0) {
        const keepAlive = setInterval(() => {
          if (!ended) controller.enqueue(KEEP_ALIVE);
        }, options.keepAliveMs);
        timers.push(keepAlive);
      }
      let checking = false;
      const check = setInterval(() => {
        if (checking || ended) return;
        if (options.expiresAt !== undefined && now() >= options.expiresAt) {
          end('expired');
          return;
        }
        checking = true;
        options
          .stillAuthorized()
          .then((ok) => {
            if (!ok) end('revoked');
          })
          .catch(() => end('revoked'))
          .finally(() => {
            checking = false;
          });
      }, options.checkEveryMs);
      timers.push(check);
      void (async () => {
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch {
            break;
          }
          if (chunk.done || ended) break;
          controller.enqueue(chunk.value);
        }
        end('upstream-ended');
      })();
    },
    cancel() {
      end('client-closed');
    },
  });
}
