import { RequestError } from '../errors/index.ts';

/** RFC 6750 §2.1: `Bearer` 1*SP b64token, the scheme case-insensitive (RFC 9110 §11.1). */
const BEARER_CREDENTIALS = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)$/;

const malformed = (message: string) =>
  new RequestError('AuthInvalidRequest', message, { expose: true });

/**
 * Reads the access token from the Authorization header, the only place one is accepted (MCP
 * authorization "Token Requirements"; never the query or the body). Pass every value the
 * request carried: Node keeps only the first of duplicate Authorization lines, so the caller
 * should collect them from `rawHeaders`.
 *
 * - no header: AuthTokenMissing (401, challenge without an error code, RFC 6750 §3.1);
 * - more than one header, another scheme, or anything but exactly `Bearer <b64token>`:
 *   AuthInvalidRequest (400 invalid_request).
 */
export function extractBearerToken(
  authorization: string | readonly string[] | null | undefined,
): string {
  const values =
    authorization === null || authorization === undefined
      ? []
      : typeof authorization === 'string'
        ? [authorization]
        : authorization;
  if (values.length === 0) {
    throw new RequestError('AuthTokenMissing', 'no bearer token was sent', { expose: true });
  }
  if (values.length > 1) throw malformed('more than one Authorization header');
  const [value = ''] = values;
  const match = BEARER_CREDENTIALS.exec(value);
  if (match?.[1] === undefined) {
    const scheme = /^\S+/.exec(value)?.[0] ?? '';
    throw malformed(
      scheme !== '' && scheme.toLowerCase() !== 'bearer'
        ? 'the Authorization header uses a scheme other than Bearer'
        : 'the Authorization header is not "Bearer" followed by one token',
    );
  }
  return match[1];
}
