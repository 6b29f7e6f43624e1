import { REQUEST_ERRORS } from './codes.ts';
import { type ClientError, type ConfigError, RequestError } from './portcullis-error.ts';

/** A rendered HTTP error, independent of any server library. */
export interface RenderedError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The one place request errors become HTTP responses. Anything that is not a RequestError is an
 * internal error: its message stays in the log, never in the response.
 */
export function renderRequestError(
  error: unknown,
  extraHeaders: Record<string, string> = {},
): RenderedError {
  const known =
    error instanceof RequestError
      ? error
      : new RequestError('InternalError', 'internal error', { expose: false });
  const { oauth } = REQUEST_ERRORS[known.code];
  const body: Record<string, string> = {
    error: oauth ?? snakeCase(known.code),
    error_description: known.expose ? known.message : REQUEST_ERRORS[known.code].summary,
    code: known.code,
  };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...extraHeaders,
  };
  return { status: known.status, headers, body: JSON.stringify(body) };
}

/** The one place configuration and usage errors become text for a terminal. */
export function formatConfigError(error: ConfigError): string {
  const where = error.source ? ` in ${error.source}` : '';
  const count = error.issues.length;
  const lines = [
    `portcullis: ${error.code}${where}: ${count} problem${count === 1 ? '' : 's'} found`,
  ];
  for (const issue of error.issues) {
    const path = issue.path ? `${issue.path}: ` : '';
    lines.push(`  - ${path}${issue.message}`);
    if (issue.fix) lines.push(`    fix: ${issue.fix}`);
  }
  return lines.join('\n');
}

/** The one place client errors become text for a terminal: code, message and the fix. */
export function formatClientError(error: ClientError): string {
  const lines = [`portcullis: ${error.code}: ${error.message}`];
  if (error.fix) lines.push(`  fix: ${error.fix}`);
  return lines.join('\n');
}

function snakeCase(code: string): string {
  return code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
