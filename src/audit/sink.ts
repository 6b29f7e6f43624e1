import type { Logger } from '../lib/log.ts';
import type { AuditBackend } from './backends.ts';
import { type ChainState, chainRecord } from './chain.ts';
import type { AuditEvent } from './events.ts';

export interface AuditSinkStatus {
  /** False while records cannot be written, or the queue is full. */
  readonly healthy: boolean;
  readonly queued: number;
  readonly written: number;
  /** Records refused because the queue was full. */
  readonly dropped: number;
  readonly lastError: string | undefined;
}

export interface AuditSinkOptions {
  /** Records held in memory while the backend is slow or failing. */
  readonly maxQueued?: number;
  /** Delay before retrying after a write error. */
  readonly retryMs?: number;
  readonly logger?: Logger;
  readonly now?: () => Date;
  /** What the gateway does meanwhile (audit.on_write_failure); only for the log line. */
  readonly onWriteFailure?: 'refuse' | 'continue';
}

/**
 * The audit trail. `record` never blocks the request path: it chains the record (so order is the
 * order of calls) and queues it; a single writer drains the queue in batches. When the backend
 * fails, records stay queued and are retried; the sink reports itself unhealthy so the gateway
 * can refuse requests rather than serve unaudited (audit.on_write_failure).
 */
/** How long the writer waits for more records before a write. */
const BATCH_DELAY_MS = 5;
/** Most records in one write. */
const MAX_BATCH = 1024;

export class AuditSink {
  private readonly backend: AuditBackend;
  private readonly maxQueued: number;
  private readonly retryMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => Date;
  private readonly onWriteFailure: 'refuse' | 'continue';
  private chain: ChainState;
  private queue: string[] = [];
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failing = false;
  private written = 0;
  private dropped = 0;
  private droppedSinceHealthy = 0;
  private lastError: string | undefined;
  private closed = false;

  constructor(backend: AuditBackend, options: AuditSinkOptions = {}) {
    this.backend = backend;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.retryMs = options.retryMs ?? 1_000;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.onWriteFailure = options.onWriteFailure ?? 'refuse';
    this.chain = backend.resume();
  }

  get healthy(): boolean {
    return !this.failing && this.queue.length < this.maxQueued && !this.closed;
  }

  status(): AuditSinkStatus {
    return {
      healthy: this.healthy,
      queued: this.queue.length,
      written: this.written,
      dropped: this.dropped,
      lastError: this.lastError,
    };
  }

  /** Queues one record. Returns false when it was refused (queue full or sink closed). */
  record(event: AuditEvent): boolean {
    if (this.closed || this.queue.length >= this.maxQueued) {
      if (!this.closed && !this.failing && this.droppedSinceHealthy === 0) {
        this.logger?.error(
          { queued: this.queue.length },
          'audit queue full (audit.max_queued_records): the sink cannot keep up',
        );
      }
      this.dropped++;
      this.droppedSinceHealthy++;
      return false;
    }
    const fields: Record<string, unknown> = { time: this.now().toISOString() };
    for (const [key, value] of Object.entries(event)) if (value !== undefined) fields[key] = value;
    const { line, state } = chainRecord(fields, this.chain);
    this.chain = state;
    this.queue.push(line);
    if (!this.failing) this.scheduleDrain();
    return true;
  }

  /** Waits until everything queued is written; false when the backend is failing. */
  async flush(): Promise<boolean> {
    while (this.queue.length > 0 || this.draining) {
      if (this.failing) return false;
      this.scheduleDrain();
      await this.draining;
    }
    return !this.failing;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.backend.close();
  }

  private scheduleDrain(): void {
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
      // What arrived during the write waits for the next batch, not for a write of its own.
      if (this.queue.length > 0 && !this.failing && !this.closed) this.scheduleDrain();
    });
  }

  private async drain(): Promise<void> {
    // Gather records for a few milliseconds so that they go out in one write (and one path
    // check): per-batch syscalls were the audit trail's main cost under load. Records are
    // chained when made, so this changes when they reach the file, never their order.
    await new Promise<void>((resolve) => setTimeout(resolve, BATCH_DELAY_MS));
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, MAX_BATCH);
      try {
        await this.backend.append(batch);
      } catch (error) {
        this.onFailure(error);
        return;
      }
      this.queue.splice(0, batch.length);
      this.written += batch.length;
      // Recovered from a write failure, or from a full queue that refused records.
      if (this.failing || this.droppedSinceHealthy > 0) this.onRecovery();
      // A backlog is written at once; a trickle waits for the next batch.
      if (this.queue.length < MAX_BATCH) return;
    }
  }

  private onFailure(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (!this.failing)
      this.logger?.error(
        { err: message, onWriteFailure: this.onWriteFailure },
        this.onWriteFailure === 'refuse'
          ? 'audit sink cannot write: refusing requests with 503 AuditUnavailable (audit.on_write_failure: refuse)'
          : 'audit sink cannot write: serving UNAUDITED requests (audit.on_write_failure: continue)',
      );
    this.failing = true;
    this.lastError = message;
    clearTimeout(this.retryTimer);
    // Stays marked as failing until a write actually succeeds (drain calls onRecovery).
    this.retryTimer = setTimeout(() => this.scheduleDrain(), this.retryMs);
    this.retryTimer.unref();
  }

  private onRecovery(): void {
    const reason = this.failing ? this.lastError : 'queue full';
    this.failing = false;
    const dropped = this.droppedSinceHealthy;
    this.droppedSinceHealthy = 0;
    this.logger?.warn({ dropped, reason }, 'audit sink writes again');
    this.record({ event: 'audit.sink.recovered', decision: 'allow', reason, dropped });
  }
}
