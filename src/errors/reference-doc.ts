import { CLIENT_ERRORS, CONFIG_ERRORS, REQUEST_ERRORS } from './codes.ts';

/** docs/errors.md, generated from the catalogue (`npm run docs`; a test keeps it in sync). */
export function renderErrorsReference(): string {
  const out = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/codes.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'Every error Portcullis reports carries one of these codes. HTTP error bodies are JSON:',
    '`{"error": <OAuth error or snake_case code>, "error_description": ..., "code": <code>}`; a',
    '401 or 403 from token verification also carries a `WWW-Authenticate: Bearer` challenge',
    '(RFC 6750 §3). Internal errors never put their details in the response.',
    '',
    'One renderer (`src/errors/render.ts`) produces every error answer, in one of four forms of',
    'the same entry: the JSON above (gateway, resource server, admin listener); the co-located',
    "authorization server's OAuth JSON (RFC 6749 §5.2: `server_error` for internal failures, a",
    '`Basic` or `Bearer` challenge on a 401, `Pragma: no-cache`); an HTML page for a person',
    '(a 401 is shown as 400 there); and a 303 back to a validated redirect URI carrying `error`,',
    '`error_description`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207). A 429 or 503 carries',
    '`Retry-After` when the wait is known (a 429 always: 60 seconds unless said otherwise).',
    '',
    '## Request errors',
    '',
    '| code | HTTP status | OAuth error | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const [code, entry] of Object.entries(REQUEST_ERRORS)) {
    out.push(
      `| \`${code}\` | ${entry.status} | ${entry.oauth ? `\`${entry.oauth}\`` : '—'} | ${entry.summary} |`,
    );
  }
  out.push(
    '',
    '## Configuration and usage errors',
    '',
    'These stop the program before it serves. The CLI prints every problem with its key path and',
    'a fix, and exits with status 2 (1 is a runtime failure, 0 success).',
    '',
    '| code | meaning |',
    '| --- | --- |',
  );
  for (const [code, entry] of Object.entries(CONFIG_ERRORS))
    out.push(`| \`${code}\` | ${entry.summary} |`);
  out.push(
    '',
    '## Client errors',
    '',
    'Raised by `portcullis connect`, `login`, `call` and `logout` and by the `portcullis/client`',
    'library. The CLI prints the code, the message and, where there is one, a fix, and exits with',
    'status 1. Discovery fetches refused by the SSRF guard report `FetchBlocked` or `FetchFailed`.',
    '',
    '| code | meaning |',
    '| --- | --- |',
  );
  for (const [code, entry] of Object.entries(CLIENT_ERRORS))
    out.push(`| \`${code}\` | ${entry.summary} |`);
  return `${out.join('\n')}\n`;
}
