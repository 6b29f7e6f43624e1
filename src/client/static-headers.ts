import { expandEnv } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';

/** RFC 9110 §5.6.2 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers the transport owns; setting them by hand would break the protocol. */
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'connection',
  'transfer-encoding',
]);

/**
 * Parses `--header "Name: value"` flags (static headers instead of OAuth). `${NAME}` in a value is
 * expanded from the environment; a missing variable is an error, never an empty string. Values
 * may not contain CR, LF or NUL.
 */
export function parseHeaderFlags(
  flags: readonly string[],
  env: NodeJS.ProcessEnv,
): Record<string, string> {
  const headers: Record<string, string> = {};
  flags.forEach((flag, index) => {
    const colon = flag.indexOf(':');
    const name = colon === -1 ? '' : flag.slice(0, colon).trim();
    if (!HEADER_NAME.test(name)) {
      throw usage(`--header #${index + 1} must look like "Name: value"`);
    }
    if (RESERVED.has(name.toLowerCase())) {
      throw usage(`--header ${name} is set by the transport and cannot be overridden`);
    }
    const expansion = expandEnv(flag.slice(colon + 1).trim(), env);
    const issue = expansion.issues[0];
    if (issue) throw usage(`--header ${name}: ${issue.message}`, issue.fix);
    const value = String(expansion.value);
    if (/[\r\n\0]/.test(value)) throw usage(`--header ${name}: the value contains a line break`);
    if (Object.keys(headers).some((key) => key.toLowerCase() === name.toLowerCase())) {
      throw usage(`--header ${name} is given twice`);
    }
    headers[name] = value;
  });
  return headers;
}

function usage(message: string, fix?: string): ConfigError {
  return new ConfigError('UsageError', [
    { path: '--header', message, ...(fix ? { fix } : { fix: 'write --header "Name: value"' }) },
  ]);
}
