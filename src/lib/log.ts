import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Shown instead of any redacted value. */
export const LOG_REDACTED = '[redacted]';

/**
 * Header and field names whose values are credentials. Matched case-insensitively at any depth,
 * so a request logged whole, a nested error, or a config fragment all lose them.
 */
const SECRET_KEYS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'dpop',
  'x-api-key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'code_verifier',
  'client_secret',
  'client_assertion',
  'password',
  'secret',
  'subject_token',
  'actor_token',
  'initial_access_token',
  'registration_access_token',
]);

/**
 * In free text: a JWS/JWE compact serialization, a Bearer/DPoP/Basic credential, or a credential
 * in a URL query (an authorization code in a logged redirect URI, say).
 */
const TOKEN_IN_TEXT =
  /\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|\b(Bearer|DPoP|Basic)\s+[A-Za-z0-9._~+/=-]+|([?&](?:code|access_token|refresh_token|id_token|client_secret|code_verifier)=)[^&#\s]*/gi;

/**
 * A word that follows a scheme name in prose ("needs a bearer token", "Basic realm") is not a
 * credential: all lower-case letters and short. Real credentials (RFC 6750 §2.1 b64token,
 * RFC 7617 base64) are long or mix in digits, capitals or punctuation.
 */
const PROSE_WORD = /^[a-z]{1,15}$/;

/** Replaces credentials in a value before it is written. Exported for the audit log as well. */
export function redactForLog(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return value.replace(
      TOKEN_IN_TEXT,
      (match: string, scheme: string | undefined, parameter: string | undefined) => {
        if (scheme) {
          const credential = match.slice(scheme.length).trim();
          return PROSE_WORD.test(credential) ? match : `${scheme} ${LOG_REDACTED}`;
        }
        return parameter ? `${parameter}${LOG_REDACTED}` : LOG_REDACTED;
      },
    );
  }
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    return { type: value.name, message: redactForLog(value.message, depth + 1) };
  }
  if (Array.isArray(value)) return value.map((item) => redactForLog(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] = isSecretKeyName(key) ? LOG_REDACTED : redactForLog(child, depth + 1);
  }
  return out;
}

/** True for a field or header name whose value is a credential (case-insensitive). */
export function isSecretKeyName(key: string): boolean {
  const lower = key.toLowerCase();
  return SECRET_KEYS.has(lower) || lower.endsWith('_secret') || lower.endsWith('_token');
}

export interface LoggerOptions {
  readonly level?: string;
  /** Where JSON lines go. Default: standard error, so stdout stays free for protocol traffic. */
  readonly destination?: DestinationStream;
}

/** The environment variable that sets the log level (documented in the README and --help). */
export const LOG_LEVEL_ENV = 'PORTCULLIS_LOG_LEVEL';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Structured JSON logs; every record passes through redactForLog before it is written. The
 * level comes from the options, else PORTCULLIS_LOG_LEVEL, else info; an unknown level is an
 * error that names the choices (rather than pino's bare "unknown level").
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env[LOG_LEVEL_ENV] || 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new TypeError(
      `${LOG_LEVEL_ENV} is "${level}"; fix: set it to one of ${LOG_LEVELS.join(', ')} (default info)`,
    );
  }
  return pino(
    {
      level,
      base: { service: 'portcullis' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (record) => redactForLog(record) as Record<string, unknown>,
      },
      hooks: {
        // Free-text messages can carry credentials too (an error quoting a header, say).
        logMethod(args, method) {
          const redacted = args.map((arg) => redactForLog(arg)) as typeof args;
          method.apply(this, redacted);
        },
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** What the access log says of one request (never a token, code, password or query string). */
export interface AccessRecord {
  readonly method: string;
  /** The path (never the query: it may carry a code or token). */
  readonly route: string;
  readonly status: number;
  readonly durationMs: number;
  readonly clientId?: string | undefined;
  readonly requestId?: string | undefined;
  /** The error code of a refusal. */
  readonly reason?: string | undefined;
  /** Which part answered: the gateway or the authorization server. */
  readonly server: 'gateway' | 'authorization-server';
}

/** One access-log line, the same shape for the gateway and the authorization server. */
export function logAccess(
  logger: Logger,
  record: AccessRecord,
  level: 'info' | 'debug' = 'info',
): void {
  if (!logger.isLevelEnabled(level)) return;
  logger[level](
    {
      server: record.server,
      method: record.method,
      route: record.route,
      status: record.status,
      durationMs: Math.round(record.durationMs * 10) / 10,
      ...(record.clientId === undefined ? {} : { clientId: record.clientId }),
      ...(record.reason === undefined ? {} : { reason: record.reason }),
      ...(record.requestId === undefined ? {} : { requestId: record.requestId }),
    },
    'request',
  );
}
