import type { Principal } from './auth-stage.ts';
import type { Answer } from './responses.ts';

/**
 * Server-to-client streams (the GET SSE stream of a session) hold their credential only at the
 * moment they open; afterwards every event would flow with no check at all. A lease ends such a
 * stream once its token expires, once a re-check says the token no longer verifies (revoked,
 * its grant withdrawn, its client disabled: RFC 7009 §2 wants revocation to take effect), or
 * after a maximum lifetime when the credential never expires (local trust). The client then
 * reconnects with a current token (MCP Streamable HTTP allows resuming a stream), and a session
 * whose only activity was a stream left open becomes idle and is reaped by the session sweep.
 */

interface Lease {
  readonly principal: Principal;
  readonly openedAt: number;
  readonly maxLifetimeMs: number;
  end(reason: string): void;
}

export class StreamLeases {
  readonly #open = new Set<Lease>();
  readonly #timer: NodeJS.Timeout;
  #sweeping: Promise<number> | undefined;

  constructor(options: { intervalMs?: number } = {}) {
    this.#timer = setInterval(() => void this.sweep(), options.intervalMs ?? 15_000);
    this.#timer.unref();
  }

  /** Streams held open now. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * The same answer, its body now ended by the lease (the upstream side is cancelled, as if the
   * client had left). Answers without a body, or not 200, pass through.
   */
  hold(response: Answer, principal: Principal, maxLifetimeMs: number): Answer {
    // A bounded answer (a refusal, say) is no stream: nothing to hold open.
    if (!(response instanceof Response)) return response;
    const body = response.body;
    if (body === null || response.status !== 200) return response;
    const reader = body.getReader();
    let done = false;
    let lease: Lease | undefined;
    const finish = () => {
      done = true;
      if (lease !== undefined) this.#open.delete(lease);
    };
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        lease = {
          principal,
          openedAt: Date.now(),
          maxLifetimeMs,
          end: () => {
            if (done) return;
            finish();
            reader.cancel('stream lease ended').catch(() => {});
            controller.close();
          },
        };
        this.#open.add(lease);
      },
      pull: async (controller) => {
        const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done) return;
        if (chunk.done || chunk.value === undefined) {
          finish();
          controller.close();
          return;
        }
        controller.enqueue(chunk.value);
      },
      cancel: async (reason) => {
        finish();
        await reader.cancel(reason).catch(() => {});
      },
    });
    return new Response(stream, { status: response.status, headers: response.headers });
  }

  /**
   * Ends every stream whose credential expired, no longer verifies, or outlived the maximum
   * lifetime. Runs on a timer; tests call it directly. Resolves to how many streams it ended.
   */
  sweep(now = Date.now()): Promise<number> {
    this.#sweeping ??= this.#sweepOnce(now).finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweepOnce(now: number): Promise<number> {
    let ended = 0;
    await Promise.all(
      [...this.#open].map(async (lease) => {
        const { expiresAt, stillValid } = lease.principal;
        const over =
          (expiresAt !== undefined && now >= expiresAt * 1000) ||
          now - lease.openedAt >= lease.maxLifetimeMs ||
          (stillValid !== undefined && !(await stillValid()));
        if (over) {
          lease.end('credential no longer valid');
          ended++;
        }
      }),
    );
    return ended;
  }

  /** Ends every stream and stops the timer (gateway shutdown). */
  close(): void {
    clearInterval(this.#timer);
    for (const lease of [...this.#open]) lease.end('gateway shutting down');
  }
}
