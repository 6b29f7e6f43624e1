import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Handler = (request: IncomingMessage, response: ServerResponse, body: Buffer) => void;

/** A real HTTP server on 127.0.0.1 (ephemeral port) that counts connections and requests. */
export interface LoopbackServer {
  readonly port: number;
  readonly origin: string;
  /** Requests received, by path (query included). */
  readonly hits: Map<string, number>;
  /** Total requests and TCP connections accepted. */
  readonly requests: () => number;
  readonly connections: () => number;
  /** Replaces the handler of a path. */
  route(path: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startLoopbackServer(
  routes: Record<string, Handler> = {},
): Promise<LoopbackServer> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  let requests = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    requests++;
    const path = request.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const handler = table.get(path.split('?')[0] ?? '');
      if (handler === undefined) {
        response.writeHead(404).end();
        return;
      }
      handler(request, response, Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    hits,
    requests: () => requests,
    connections: () => connections,
    route(path, handler) {
      table.set(path, handler);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function json(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}
