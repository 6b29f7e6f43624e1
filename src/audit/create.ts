import type { Writable } from 'node:stream';
import type { Config } from '../config/index.ts';
import type { DeepReadonly } from '../lib/deep-freeze.ts';
import type { Logger } from '../lib/log.ts';
import { FileAuditBackend, StreamAuditBackend } from './backends.ts';
import { AuditSink } from './sink.ts';

/** The sink the `audit` config block describes: the hash-chained file, or standard output. */
export function createAuditSink(
  audit: DeepReadonly<Config['audit']>,
  options: { logger?: Logger; stdout?: Writable } = {},
): AuditSink {
  const backend = audit.stdout
    ? new StreamAuditBackend(options.stdout ?? process.stdout)
    : new FileAuditBackend(audit.path, audit.rotate_bytes);
  return new AuditSink(backend, {
    maxQueued: audit.max_queued_records,
    onWriteFailure: audit.on_write_failure,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
