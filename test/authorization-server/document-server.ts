import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

/** How the document server answers one path. */
export type Behaviour =
  | {
      readonly kind: 'json';
      readonly body: unknown;
      readonly headers?: Record<string, string>;
      readonly delayMs?: number;
    }
  | {
      readonly kind: 'raw';
      readonly status: number;
      readonly body: string;
      readonly headers?: Record<string, string>;
    }
  | { readonly kind: 'chunked'; readonly bytes: number }
  | { readonly kind: 'gzip-bomb'; readonly bytes: number }
  | { readonly kind: 'drip' };

/**
 * A loopback server publishing client ID metadata documents, counting every hit per path, with
 * misbehaviours on demand (status codes, redirects, oversize, compression bombs, drip feeding).
 */
export class DocumentServer {
  private readonly routes = new Map<string, Behaviour>();
  readonly hits = new Map<string, number>();
  private readonly server = createServer((request, response) =>
    this.answer(request.url ?? '/', response),
  );
  private readonly open = new Set<ServerResponse>();
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  set(path: string, behaviour: Behaviour): string {
    this.routes.set(path, behaviour);
    return `${this.url}${path}`;
  }

  /** A valid document for `path`, merged with `overrides` (undefined deletes a field). */
  document(
    path: string,
    overrides: Record<string, unknown> = {},
    headers?: Record<string, string>,
  ): string {
    const url = `${this.url}${path}`;
    const body: Record<string, unknown> = {
      client_id: url,
      client_name: 'Metadata Document Client',
      redirect_uris: ['http://127.0.0.1:7777/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete body[key];
      else body[key] = value;
    }
    return this.set(path, { kind: 'json', body, ...(headers ? { headers } : {}) });
  }

  hitsOf(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  private answer(path: string, response: ServerResponse): void {
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const behaviour = this.routes.get(path);
    if (behaviour === undefined) {
      response.writeHead(404).end();
      return;
    }
    switch (behaviour.kind) {
      case 'json': {
        const send = () => {
          response.writeHead(200, {
            'content-type': 'application/json',
            ...(behaviour.headers ?? {}),
          });
          response.end(JSON.stringify(behaviour.body));
        };
        if (behaviour.delayMs) setTimeout(send, behaviour.delayMs);
        else send();
        return;
      }
      case 'raw':
        response.writeHead(behaviour.status, behaviour.headers ?? {});
        response.end(
          behaviour.status === 204 || behaviour.status === 304 ? undefined : behaviour.body,
        );
        return;
      case 'chunked': {
        response.writeHead(200, { 'content-type': 'application/json' });
        const chunk = 'x'.repeat(1024);
        for (let sent = 0; sent < behaviour.bytes; sent += chunk.length) response.write(chunk);
        response.end();
        return;
      }
      case 'gzip-bomb':
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        response.end(gzipSync(Buffer.alloc(behaviour.bytes, 0x20)));
        return;
      case 'drip': {
        response.writeHead(200, { 'content-type': 'application/json' });
        this.open.add(response);
        const timer = setInterval(() => {
          if (response.destroyed) {
            clearInterval(timer);
            this.open.delete(response);
          } else response.write(' ');
        }, 200);
        response.on('close', () => clearInterval(timer));
        return;
      }
    }
  }

  async close(): Promise<void> {
    for (const response of this.open) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
