import type { Logger } from '../lib/log.ts';
import type { AuditBackend } from './backends.ts';
import { type ChainState, chainMembers } from './chain.ts';
import type { AuditEvent } from './events.ts';
import { memberPrefix, serialized } from './members.ts';

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
 * A record that serializes its own members, for a caller on the hot path that keeps the parts
 * that repeat (a caller's identity, a route's scopes) serialized once: it hands over the values
 * and the writer calls `members` when it chains the batch, off the request's turn.
 */
export interface PreparedAuditRecord {
  /** The JSON object's members after `time`, each with its leading comma: `,"event":"…",…`. */
  members(): string;
}

/**
 * The audit trail. `record` never blocks the request path: it takes the record's time and
 * fields and queues them, nothing more. A single writer, a few milliseconds later, serializes
 * and chains the batch in call order (so order is the order of calls, and the hash chain runs
 * unbroken), then writes it in one append. When the backend fails, the chained lines stay
 * queued and are retried as they are; the sink reports itself unhealthy so the gateway can
 * refuse requests rather than serve unaudited (audit.on_write_failure).
 */
/** A record's members after `time`, in the order of its fields. */
function membersOf(event: AuditEvent | PreparedAuditRecord): string {
  if (typeof (event as PreparedAuditRecord).members === 'function') {
    return (event as PreparedAuditRecord).members();
  }
  let members = '';
  for (const key in event) {
    const value = (event as AuditEvent)[key as keyof AuditEvent];
    if (value !== undefined) members += `${memberPrefix(key)}${serialized(value)}`;
  }
  return members;
}

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
  /** Records taken but not yet serialized and chained (the writer does that, in order). */
  private unchained: (AuditEvent | PreparedAuditRecord)[] = [];
  /** When each of them was taken (the same index). */
  private unchainedTimes: Date[] = [];
  /** The last record time formatted, and its milliseconds: records often share one. */
  private lastTime = { ms: Number.NaN, iso: '' };
  /** Chained lines waiting to be written. */
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
    return !this.failing && this.queued < this.maxQueued && !this.closed;
  }

  private get queued(): number {
    return this.unchained.length + this.queue.length;
  }

  private isoTime(time: Date): string {
    const ms = time.getTime();
    if (ms !== this.lastTime.ms) this.lastTime = { ms, iso: time.toISOString() };
    return this.lastTime.iso;
  }

  status(): AuditSinkStatus {
    return {
      healthy: this.healthy,
      queued: this.queued,
      written: this.written,
      dropped: this.dropped,
      lastError: this.lastError,
    };
  }

  /** Queues one record. Returns false when it was refused (queue full or sink closed). */
  record(event: AuditEvent | PreparedAuditRecord): boolean {
    if (this.closed || this.queued >= this.maxQueued) {
      if (!this.closed && !this.failing && this.droppedSinceHealthy === 0) {
        this.logger?.error(
          { queued: this.queued },
          'audit queue full (audit.max_queued_records): the sink cannot keep up',
        );
      }
      this.dropped++;
      this.droppedSinceHealthy++;
      return false;
    }
    this.unchained.push(event);
    this.unchainedTimes.push(this.now());
    if (!this.failing) this.scheduleDrain();
    return true;
  }

  /** Serializes and chains every record taken so far, in the order they were taken. */
  private chainTaken(): void {
    const times = this.unchainedTimes;
    this.unchained.forEach((event, index) => {
      const time = `"time":"${this.isoTime(times[index] ?? this.now())}"`;
      const { line, state } = chainMembers(`${time}${membersOf(event)}`, this.chain);
      this.chain = state;
      this.queue.push(line);
    });
    this.unchained = [];
    this.unchainedTimes = [];
  }

  /** Waits until everything queued is written; false when the backend is failing. */
  async flush(): Promise<boolean> {
    while (this.queued > 0 || this.draining) {
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
      if (this.queued > 0 && !this.failing && !this.closed) this.scheduleDrain();
    });
  }

  private async drain(): Promise<void> {
    // Gather records for a few milliseconds so that they go out in one write (and one path
    // check): per-batch syscalls were the audit trail's main cost under load. Records are
    // chained here in the order they were taken, so batching changes when they reach the
    // file, never their order; serializing and hashing leave the requests' own turns.
    await new Promise<void>((resolve) => setTimeout(resolve, BATCH_DELAY_MS));
    this.chainTaken();
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
