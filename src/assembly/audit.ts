import { type AuditSink, createAuditSink } from '../audit/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';

/** The audit trail from the config; a path that cannot be opened is a config error, at start. */
export function openAuditSink(loaded: LoadedConfig, logger: Logger): AuditSink {
  try {
    return createAuditSink(loaded.config.audit, { logger });
  } catch (error) {
    throw new ConfigError(
      'ConfigRefused',
      [
        {
          path: 'audit.path',
          message: `the audit trail cannot be opened (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
          fix: 'point audit.path at a writable file in a directory the gateway may create',
        },
      ],
      { source: loaded.source, cause: error },
    );
  }
}
