import type { Readable, Writable } from 'node:stream';
import type { LoadedConfig } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { runStdioFront } from '../proxy/index.ts';
import { openAuditSink } from './audit.ts';

/**
 * Portcullis over stdio (`serve --transport stdio`): the default upstream served to one local
 * client on a pair of streams, same policy, local trust, audited to audit.path.
 */
export async function runPortcullisStdio(
  loaded: LoadedConfig,
  options: { readonly input: Readable; readonly output: Writable; readonly logger?: Logger },
): Promise<number> {
  // Standard output is the MCP channel under stdio: audit records there would corrupt it.
  if (loaded.config.audit.stdout) {
    throw new ConfigError(
      'ConfigRefused',
      [
        {
          path: 'audit.stdout',
          message: 'standard output carries the MCP protocol under --transport stdio',
          fix: 'set audit.stdout: false (the audit trail goes to audit.path), or use --transport http',
        },
      ],
      { source: loaded.source },
    );
  }
  const logger = options.logger ?? createLogger();
  const audit = openAuditSink(loaded, logger);
  try {
    return await runStdioFront(loaded, {
      input: options.input,
      output: options.output,
      logger,
      audit,
    });
  } finally {
    await audit.close();
  }
}
