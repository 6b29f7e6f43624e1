import {
  CLIENT_ERRORS,
  type ClientErrorCode,
  CONFIG_ERRORS,
  type ConfigErrorCode,
  REQUEST_ERRORS,
  type RequestErrorCode,
} from './codes.ts';

/**
 * An error met while serving a request. Errors are data: the code fixes the status and the
 * OAuth error; `expose` says whether `message` may be shown to the client (it never holds a
 * token or secret either way).
 */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  readonly code: RequestErrorCode;
  readonly status: number;
  readonly expose: boolean;
  /** Extra data for the renderer, such as the scope an `AuthMissingScope` needs. */
  readonly details: Readonly<Record<string, string>>;

  constructor(
    code: RequestErrorCode,
    message: string,
    options: { expose?: boolean; details?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = REQUEST_ERRORS[code].status;
    this.expose = options.expose ?? this.status < 500;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** One problem found in a configuration: where, what, and how to fix it. */
export interface ConfigIssue {
  /** Key path in dotted form, e.g. `remote_mcp.audiences` or `upstreams[1].path`. */
  readonly path: string;
  readonly message: string;
  readonly fix?: string;
}

/** A configuration or usage error. Carries every problem found, not just the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  readonly issues: readonly ConfigIssue[];
  readonly source: string | undefined;

  constructor(
    code: ConfigErrorCode,
    issues: readonly ConfigIssue[],
    options: { source?: string; cause?: unknown } = {},
  ) {
    const first = issues[0];
    super(
      first
        ? `${first.path ? `${first.path}: ` : ''}${first.message}`
        : CONFIG_ERRORS[code].summary,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.issues = Object.freeze([...issues]);
    this.source = options.source;
  }
}

/**
 * An error the MCP client stops with. `fix` tells the user what to configure or run, when there
 * is something to do; messages never carry a token, code or secret.
 */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code: ClientErrorCode;
  readonly fix: string | undefined;

  constructor(
    code: ClientErrorCode,
    message: string,
    options: { fix?: string; cause?: unknown } = {},
  ) {
    super(
      message || CLIENT_ERRORS[code].summary,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.fix = options.fix;
  }
}

export function isClientError(value: unknown): value is ClientError {
  return value instanceof ClientError;
}

export function isRequestError(value: unknown): value is RequestError {
  return value instanceof RequestError;
}

export function isConfigError(value: unknown): value is ConfigError {
  return value instanceof ConfigError;
}
