import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Discovery } from '../../../src/client/discovery.ts';

/** One request as the scripted server received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** What the scripted server answers on one path. */
export interface ScriptedAnswer {
  readonly status: number;
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  readonly contentType?: string;
  /** Extra response headers (a `WWW-Authenticate` challenge, say). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A real HTTP server on 127.0.0.1 playing an authorization server whose answers each test
 * chooses (including hostile or malformed ones); it records every request it receives.
 */
export interface ScriptedServer {
  readonly origin: string;
  readonly requests: RecordedRequest[];
  /** Sets the answer for a path; unset paths answer 404. */
  answer(path: string, answer: ScriptedAnswer): void;
  /** Forgets recorded requests and answers. */
  reset(): void;
  close(): Promise<void>;
}

export async function startScriptedServer(): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  const answers = new Map<string, ScriptedAnswer>();
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    const answer = answers.get(path) ?? {
      status: 404,
      body: 'not found',
      contentType: 'text/plain',
    };
    const text =
      answer.body === undefined
        ? ''
        : typeof answer.body === 'string'
          ? answer.body
          : JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type':
        answer.contentType ?? (typeof answer.body === 'string' ? 'text/plain' : 'application/json'),
      ...answer.headers,
    });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    answer: (path, answer) => {
      answers.set(path, answer);
    },
    reset: () => {
      requests.length = 0;
      answers.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A discovery result for the scripted server as issuer, with metadata members overridden. */
export function scriptedDiscovery(
  origin: string,
  overrides: Record<string, unknown> = {},
): Discovery {
  return {
    resource: 'https://mcp.example.com/mcp',
    issuer: origin,
    metadata: {
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      ...overrides,
    },
    defaultEndpoints: false,
    legacy: false,
  };
}

/** The form parameters of a recorded request body. */
export function form(request: RecordedRequest | undefined): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(request?.body ?? ''));
}
