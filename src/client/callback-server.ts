import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientError } from '../errors/index.ts';
import { html } from '../lib/html.ts';
import { htmlPage } from '../lib/html-page.ts';

/** RFC 8252 §7.3: loopback IP literal, never `localhost` (§8.3). */
const CALLBACK_HOST = '127.0.0.1';
const CALLBACK_PATH = '/callback';
export const DEFAULT_CALLBACK_TIMEOUT_MS = 5 * 60 * 1000;

export interface AuthorizationResponseExpectation {
  /** The `state` sent in the authorization request; anything else is refused. */
  readonly state: string;
  /** The issuer recorded before redirecting (RFC 9207 §2.4). */
  readonly issuer: string;
  /** The metadata's `authorization_response_iss_parameter_supported`. */
  readonly issRequired: boolean;
  readonly timeoutMs?: number;
}

export interface CallbackServer {
  /** `http://127.0.0.1:PORT/callback`, with the port actually bound. */
  readonly redirectUri: string;
  readonly port: number;
  /**
   * Resolves with the authorization code of the first response carrying the expected `state`.
   * Responses with a missing or wrong `state` get a 400 page and are otherwise ignored, so a
   * stray or hostile request cannot end the wait. Single use: the listener closes afterwards.
   */
  waitForCode(expect: AuthorizationResponseExpectation): Promise<string>;
  /** Stops listening; a wait in progress rejects with ClientAuthorizationFailed ("abandoned"). */
  close(): Promise<void>;
}

/**
 * Binds the loopback callback listener. Done before client registration, so the redirect URI
 * registered and sent carries the real port (an ephemeral one unless `port` is given).
 */
export async function startCallbackServer(
  options: { port?: number } = {},
): Promise<CallbackServer> {
  let onRequest: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (onRequest) onRequest(req, res);
    else page(res, 503, 'Not ready', 'This sign-in is not expecting a response yet.');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new ClientError(
          'ClientCallbackUnavailable',
          `cannot listen on ${CALLBACK_HOST}:${options.port ?? 0}: ${error.code ?? error.message}`,
          { fix: 'choose another --callback-port, or omit it for an ephemeral port', cause: error },
        ),
      );
    });
    server.listen({ host: CALLBACK_HOST, port: options.port ?? 0, exclusive: true }, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const redirectUri = `http://${CALLBACK_HOST}:${port}${CALLBACK_PATH}`;
  let closed = false;
  let abandon: (() => void) | undefined;
  const close = async () => {
    abandon?.();
    if (closed) return;
    closed = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    // Let the page just written reach the browser; drop idle keep-alive sockets now, the rest soon.
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1000).unref();
    await stopped;
  };

  const waitForCode = (expect: AuthorizationResponseExpectation): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const timeoutMs = expect.timeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS;
      const timer = setTimeout(() => {
        finish(
          new ClientError(
            'ClientAuthorizationTimeout',
            `no authorization response within ${Math.round(timeoutMs / 1000)} s`,
            { fix: 'run the command again and complete the sign-in in the browser' },
          ),
        );
      }, timeoutMs);
      let done = false;
      abandon = () =>
        finish(new ClientError('ClientAuthorizationFailed', 'the authorization was abandoned'));
      const finish = (error: Error | undefined, code?: string) => {
        if (done) return;
        done = true;
        abandon = undefined;
        clearTimeout(timer);
        onRequest = (_req, res) =>
          page(res, 410, 'Already used', 'This sign-in link was already used.');
        void close();
        if (error) reject(error);
        else resolve(code ?? '');
      };
      onRequest = (req, res) => {
        const outcome = readAuthorizationResponse(req, expect);
        if (outcome.kind === 'ignore') {
          page(res, outcome.status, 'Sign-in refused', outcome.message);
          return;
        }
        if (outcome.kind === 'error') {
          page(res, 400, 'Sign-in failed', outcome.page);
          finish(outcome.error);
          return;
        }
        page(
          res,
          200,
          'Signed in',
          'Portcullis received the authorization. You may close this window.',
        );
        finish(undefined, outcome.code);
      };
    });

  return { redirectUri, port, waitForCode, close };
}

type Outcome =
  | { kind: 'ignore'; status: number; message: string }
  | { kind: 'error'; error: ClientError; page: string }
  | { kind: 'code'; code: string };

function readAuthorizationResponse(
  req: IncomingMessage,
  expect: AuthorizationResponseExpectation,
): Outcome {
  if (req.method !== 'GET') return { kind: 'ignore', status: 405, message: 'Method not allowed.' };
  const url = new URL(req.url ?? '/', `http://${CALLBACK_HOST}`);
  if (url.pathname !== CALLBACK_PATH) return { kind: 'ignore', status: 404, message: 'Not found.' };
  const params = url.searchParams;
  // Each parameter at most once (RFC 6749 §3.1: parameters MUST NOT be included more than once).
  for (const name of ['state', 'code', 'iss', 'error']) {
    if (params.getAll(name).length > 1) {
      return { kind: 'ignore', status: 400, message: `Repeated ${name} parameter.` };
    }
  }
  const state = params.get('state');
  if (state === null || state !== expect.state) {
    return {
      kind: 'ignore',
      status: 400,
      message: 'This response does not belong to the sign-in in progress (state mismatch).',
    };
  }
  // RFC 9207 §2.4, before the code is used or an error displayed; simple string comparison.
  const iss = params.get('iss');
  if (iss !== null ? iss !== expect.issuer : expect.issRequired) {
    return {
      kind: 'error',
      page: 'The response did not come from the expected authorization server.',
      error: new ClientError(
        'ClientIssuerMismatch',
        iss === null
          ? `the authorization response has no iss, which ${expect.issuer} advertises (RFC 9207)`
          : `the authorization response names issuer ${JSON.stringify(iss.slice(0, 200))}, expected ${expect.issuer} (RFC 9207)`,
      ),
    };
  }
  const error = params.get('error');
  if (error !== null) {
    const description = params.get('error_description');
    return {
      kind: 'error',
      page: 'The authorization server refused the request.',
      error: new ClientError(
        'ClientAuthorizationFailed',
        `the authorization server answered ${printable(error)}${description ? `: ${printable(description)}` : ''}`,
      ),
    };
  }
  const code = params.get('code');
  if (code === null || code === '') {
    return { kind: 'ignore', status: 400, message: 'The response carries no code.' };
  }
  return { kind: 'code', code };
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

function page(res: ServerResponse, status: number, title: string, message: string): void {
  // The same page shell (and security headers) as the authorization server's pages: styled, no
  // script, not frameable, no referrer. It echoes nothing from the request.
  const answer = htmlPage(html`<h1>${title}</h1><p>${message}</p>`, { title, status });
  res.writeHead(answer.status, { ...answer.headers, connection: 'close' });
  res.end(answer.body);
}
