import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

/** Headers as a test sends them: repeated ones as arrays, undefined to leave one out. */
export type TestHeaders = Readonly<Record<string, string | string[] | undefined>>;

import net from 'node:net';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The body parsed as JSON, or undefined. */
  readonly json: Record<string, unknown> | undefined;
}

/**
 * One HTTP request with full control of the headers (repeated headers as arrays, any Host), as
 * attackers send them; reads the whole answer (an SSE answer until the stream ends).
 */
export function request(
  url: string,
  options: {
    method?: string;
    headers?: TestHeaders;
    body?: string | Buffer;
    /** A raw request target, sent as is (URL parsing would normalize it). */
    target?: string;
  } = {},
): Promise<Reply> {
  const target = new URL(url);
  const headers: OutgoingHttpHeaders = { host: target.host };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value !== undefined) headers[name] = value;
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: options.target ?? `${target.pathname}${target.search}`,
        method: options.method ?? 'POST',
        headers,
        setHost: false,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(body) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The usual MCP POST headers. */
export function mcpHeaders(extra: TestHeaders = {}): TestHeaders {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...extra,
  };
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'portcullis-test', version: '1.0.0' },
  },
});

export function toolCall(name: string, args: Record<string, unknown> = {}, id = 1): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args },
  });
}

/** The JSON-RPC messages of an answer (one JSON body, or the data of each SSE event). */
export function messagesOf(reply: Reply): Record<string, unknown>[] {
  if (String(reply.headers['content-type']).startsWith('text/event-stream')) {
    return reply.body
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => JSON.parse(line.slice(5)) as Record<string, unknown>);
  }
  return reply.json === undefined ? [] : [reply.json];
}

/** Initializes a session (initialize + notifications/initialized); returns its id. */
export async function openSession(url: string, headers: TestHeaders = {}): Promise<string> {
  const reply = await request(url, { headers: mcpHeaders(headers), body: INITIALIZE });
  const sessionId = reply.headers['mcp-session-id'];
  if (reply.status !== 200 || typeof sessionId !== 'string') {
    throw new Error(`initialize failed: ${reply.status} ${reply.body}`);
  }
  const initialized = await request(url, {
    headers: mcpHeaders({ ...headers, 'mcp-session-id': sessionId }),
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  if (initialized.status !== 202) throw new Error(`initialized: ${initialized.status}`);
  return sessionId;
}

export interface RawReply {
  readonly text: string;
  readonly status: number;
  /** True when the server closed the connection. */
  readonly closed: boolean;
}

/**
 * Writes raw bytes on a fresh connection and collects what comes back until the server closes
 * the connection or `waitMs` passes without it doing so.
 */
export function rawExchange(
  port: number,
  payload: string | Buffer | readonly (string | Buffer)[],
  options: { waitMs?: number; gapMs?: number } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      socket.destroy();
      resolve({ text, status, closed });
    };
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') return;
      reject(error);
    });
    socket.once('connect', async () => {
      const parts = Array.isArray(payload) ? payload : [payload];
      for (const part of parts) {
        if (socket.destroyed) break;
        socket.write(part);
        if (options.gapMs !== undefined) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      timer = setTimeout(finish, options.waitMs ?? 3000);
    });
  });
}
