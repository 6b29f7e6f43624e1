import type { FetchLike } from './auth-fetch.ts';

/**
 * How long the bridge waits for the remote to answer the listening stream before relaying the
 * local client's requests anyway (the stream is optional: MCP 2025-11-25 basic/transports,
 * "Listening for Messages from the Server").
 */
export const LISTENING_STREAM_WAIT_MS = 5_000;

/**
 * Watches the fetch of a 2025 Streamable HTTP client transport for the listening stream it opens.
 *
 * After `notifications/initialized` is accepted (202), the official SDK transports open a GET
 * stream on which the server may send requests of its own (elicitation, sampling, roots), and
 * they do not wait for it. A server that has no such stream yet when it sends one drops it
 * (MCP 2025-11-25 basic/transports: the server MAY send on the stream; nothing is queued), so
 * a tool call relayed before the stream is open can wait forever for a question the client
 * never received. A bridge relays the local client's next message only once `ready()` has
 * resolved: the server has answered the GET (its response headers arrived, or it refused or
 * failed), or no stream is being opened.
 */
export interface ListeningStreamWatch {
  /** The fetch to give the transport. */
  readonly fetch: FetchLike;
  /**
   * Resolves once the listening stream opened after the last accepted `notifications/initialized`
   * has been answered, or at once when there is none; at the latest after `waitMs`.
   */
  ready(): Promise<void>;
}

export function watchListeningStream(
  base: FetchLike,
  waitMs = LISTENING_STREAM_WAIT_MS,
): ListeningStreamWatch {
  /** Set when a `notifications/initialized` was accepted: settles with the next GET. */
  let opening: { settled: Promise<void>; settle: () => void } | undefined;
  const fetch: FetchLike = async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method === 'GET' && opening !== undefined) {
      const { settle } = opening;
      const answered = base(input, init);
      answered.then(settle, settle);
      return answered;
    }
    const response = await base(input, init);
    if (method === 'POST' && response.status === 202 && isInitializedNotification(init?.body)) {
      let settle!: () => void;
      const settled = new Promise<void>((resolve) => {
        settle = resolve;
      });
      opening = { settled, settle };
    }
    return response;
  };
  return {
    fetch,
    async ready() {
      if (opening === undefined) return;
      const { settled } = opening;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
        timer.unref();
      });
      await Promise.race([settled, late]);
      clearTimeout(timer);
    },
  };
}

function isInitializedNotification(body: RequestInit['body'] | undefined): boolean {
  if (typeof body !== 'string') return false;
  try {
    const message = JSON.parse(body) as { method?: unknown; id?: unknown };
    return message.method === 'notifications/initialized' && message.id === undefined;
  } catch {
    return false;
  }
}
