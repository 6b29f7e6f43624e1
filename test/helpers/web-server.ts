import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

/** A Web handler as the protocol modules export them; undefined means "not mine" (404). */
export type WebHandler = (
  request: Request,
  context: { clientAddress: string },
) => Promise<Response | undefined> | Response | undefined;

export interface WebServer {
  /** http://127.0.0.1:PORT, no trailing slash. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function toRequest(incoming: IncomingMessage, origin: string): Request {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    headers.append(raw[index] ?? '', raw[index + 1] ?? '');
  }
  const method = incoming.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(new URL(incoming.url ?? '/', origin), {
    method,
    headers,
    ...(hasBody
      ? { body: Readable.toWeb(incoming) as ReadableStream<Uint8Array>, duplex: 'half' }
      : {}),
  } as RequestInit);
}

async function send(
  response: Response,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  const cookies = response.headers.getSetCookie();
  const headers: Record<string, string | string[]> = {};
  // A body the handler did not read (a 413, say) leaves the connection unusable: close it.
  if (!incoming.complete) headers.connection = 'close';
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  outgoing.writeHead(response.status, headers);
  if (response.body === null) {
    outgoing.end();
    return;
  }
  outgoing.end(Buffer.from(await response.arrayBuffer()));
}

/**
 * Serves a Web `Request → Response` handler on 127.0.0.1 with an ephemeral port: the smallest
 * node:http adapter, for tests (the gateway's HTTP front does this for real).
 */
export async function serveWeb(handler: WebHandler): Promise<WebServer> {
  let origin = 'http://127.0.0.1';
  const server = createServer((incoming, outgoing) => {
    const request = toRequest(incoming, origin);
    Promise.resolve(handler(request, { clientAddress: incoming.socket.remoteAddress ?? '' }))
      .then((response) =>
        send(response ?? new Response('not found', { status: 404 }), incoming, outgoing),
      )
      .catch((error: unknown) => {
        outgoing.writeHead(500, { 'content-type': 'text/plain' });
        outgoing.end(
          `test server error: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: origin,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
