import { randomBytes, randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { AuditSink } from '../audit/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { RequestError } from '../errors/index.ts';
import type { Logger } from '../lib/log.ts';
import {
  answeredId,
  errorResponse,
  idKey,
  isRecord,
  JSON_RPC_ERRORS,
  type JsonRpcId,
  parseMessageText,
  type ResponseFilter,
  responseFilterFor,
} from '../mcp/index.ts';
import { LOCAL_SUBJECT, type Principal } from './auth-stage.ts';
import {
  authorizeNoting,
  newRequestFacts,
  noteMessage,
  type RequestFacts,
  RequestObserver,
  reasonOf,
} from './request-facts.ts';
import { buildRouteTable, type McpRoute } from './routes.ts';
import { StdioChild } from './upstreams/stdio.ts';

/**
 * `serve --transport stdio`: the gateway for a local client that starts it as its MCP server.
 * Same routing (the default upstream) and the same policy as over HTTP (parse once, refuse what
 * the tool and method maps do not allow, filter tools/list), but no OAuth: the local user is
 * trusted with every configured scope (MCP authorization: stdio takes credentials from the
 * environment, not from this flow).
 */

export interface StdioFrontOptions {
  readonly input: Readable;
  readonly output: Writable;
  readonly logger: Logger;
  /**
   * The audit trail: one record per client message. Must not write to standard output, which
   * is the protocol channel here (serve refuses audit.stdout with --transport stdio).
   */
  readonly audit?: AuditSink | undefined;
}

/** Upstream side of the stdio front: one message channel. */
interface Channel {
  send(text: string, message: Readonly<Record<string, unknown>>): Promise<void>;
  close(): Promise<void>;
}

/** Runs until the client closes stdin or the upstream goes away. Resolves with an exit code. */
export async function runStdioFront(
  loaded: LoadedConfig,
  options: StdioFrontOptions,
): Promise<number> {
  const routes = buildRouteTable(loaded);
  const route = routes.routes.find((candidate) => candidate.isDefault) as McpRoute;
  const scopes = new Set([...loaded.config.remote_mcp.allowed_scopes, ...route.policy.allScopes()]);
  const logger = options.logger.child({ transport: 'stdio', upstream: route.name });
  const filters = new Map<string, ResponseFilter>();
  const pending = new Map<string, JsonRpcId>();
  const maxLine = loaded.config.remote_mcp.max_body_bytes;
  const observer = new RequestObserver({
    sink: options.audit,
    onWriteFailure: loaded.config.audit.on_write_failure,
  });
  const principal: Principal = Object.freeze({
    subject: LOCAL_SUBJECT,
    clientId: undefined,
    scopes,
    tokenIdHash: undefined,
  });
  // One client, one session for the life of the process: records of a run share this id.
  const sessionId = randomBytes(24).toString('base64url');
  const newFacts = (): RequestFacts => {
    const facts = newRequestFacts();
    facts.kind = 'mcp';
    facts.upstream = route.name;
    facts.principal = principal;
    facts.sessionId = sessionId;
    return facts;
  };
  const decided = (facts: RequestFacts) =>
    observer.finish(facts, {
      requestId: randomUUID(),
      clientAddress: undefined,
      httpMethod: undefined,
      status: undefined,
    });

  const write = (text: string) => {
    options.output.write(`${text}\n`);
  };

  const fromUpstream = (text: string) => {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      logger.warn('upstream wrote a line that is not JSON; dropped');
      return;
    }
    if (!isRecord(message)) return;
    const id = answeredId(message);
    if (id !== undefined) {
      const key = idKey(id);
      pending.delete(key);
      const filter = filters.get(key);
      if (filter !== undefined) {
        filters.delete(key);
        write(filter(message));
        return;
      }
    }
    write(text);
  };

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const upstreamGone = () => {
    for (const id of pending.values()) {
      write(errorResponse(id, JSON_RPC_ERRORS.upstreamGone, 'the upstream MCP server exited'));
    }
    pending.clear();
    finish(1);
  };

  const channel: Channel =
    route.transport === 'stdio'
      ? stdioChannel(route, logger, fromUpstream, upstreamGone)
      : await httpChannel(route, logger, fromUpstream, upstreamGone);

  const fromClient = async (line: string) => {
    const facts = newFacts();
    let parsed: ReturnType<typeof parseMessageText>;
    try {
      // Rather refuse than serve unaudited (audit.on_write_failure: refuse).
      observer.checkAuditWritable();
      parsed = parseMessageText(line);
      noteMessage(facts, route, parsed.message);
      const decision = authorizeNoting(route, parsed.message, principal, facts);
      const { message } = parsed;
      if (message.kind === 'request') {
        pending.set(idKey(message.id), message.id);
        const filter = responseFilterFor(message, decision, route.policy, scopes);
        if (filter !== undefined) filters.set(idKey(message.id), filter);
      }
      facts.upstreamAttempted = true;
      await channel.send(parsed.text, parsed.raw);
      decided(facts);
    } catch (error) {
      facts.reason = reasonOf(error);
      decided(facts);
      refuse(error, line);
    }
  };

  const refuse = (error: unknown, line: string) => {
    const known = error instanceof RequestError ? error : undefined;
    if (known === undefined) logger.error({ err: error }, 'message failed');
    const code =
      known?.code === 'McpMethodDenied'
        ? JSON_RPC_ERRORS.methodNotFound
        : known?.code === 'McpToolDenied'
          ? JSON_RPC_ERRORS.invalidParams
          : known?.code === 'RequestMalformed'
            ? JSON_RPC_ERRORS.invalidRequest
            : JSON_RPC_ERRORS.internalError;
    const id = requestIdOf(line);
    logger.info({ code: known?.code ?? 'InternalError' }, known?.message ?? 'message failed');
    // Notifications get no answer (JSON-RPC 2.0 §4.1); refused ones are only logged.
    if (id === undefined) return;
    write(
      errorResponse(id, code, known?.expose ? known.message : 'refused', {
        code: known?.code ?? 'InternalError',
      }),
    );
  };

  let buffer = '';
  let queue = Promise.resolve();
  options.input.setEncoding('utf8');
  options.input.on('data', (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line.trim() !== '') queue = queue.then(() => fromClient(line));
      newline = buffer.indexOf('\n');
    }
    if (buffer.length > maxLine) {
      buffer = '';
      const facts = newFacts();
      facts.reason = 'RequestBodyTooLarge';
      decided(facts);
      write(errorResponse(null, JSON_RPC_ERRORS.invalidRequest, 'message too large'));
    }
  });
  options.input.once('end', () => {
    void queue.then(() => finish(0));
  });

  const code = await finished;
  await channel.close();
  return code;
}

/** The id of a request line, for error answers; undefined for notifications and junk. */
function requestIdOf(line: string): JsonRpcId | null | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (!isRecord(value) || !Object.hasOwn(value, 'id')) return undefined;
    const id = value.id;
    return typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id))
      ? id
      : null;
  } catch {
    return null;
  }
}

function stdioChannel(
  route: McpRoute,
  logger: Logger,
  onMessage: (text: string) => void,
  onGone: () => void,
): Channel {
  const { command = '', args, env, cwd } = route.upstream;
  const child = new StdioChild(
    { name: route.name, command, args, env, cwd },
    { logger, onMessage },
  );
  let stopping = false;
  void child.exited.then((info) => {
    if (!stopping) {
      logger.warn({ code: info.code, signal: info.signal }, 'upstream process exited');
      onGone();
    }
  });
  return {
    async send(text) {
      if (!child.send(text)) throw new RequestError('UpstreamUnavailable', 'the upstream is gone');
    },
    async close() {
      stopping = true;
      await child.stop();
    },
  };
}

async function httpChannel(
  route: McpRoute,
  logger: Logger,
  onMessage: (text: string) => void,
  onGone: () => void,
): Promise<Channel> {
  const transport = new StreamableHTTPClientTransport(new URL(route.upstream.url ?? ''), {
    requestInit: { headers: { ...route.upstream.headers } },
  });
  transport.onmessage = (message) => onMessage(JSON.stringify(message));
  transport.onerror = (error) => logger.warn({ err: error }, 'upstream transport error');
  let stopping = false;
  transport.onclose = () => {
    if (!stopping) onGone();
  };
  await transport.start();
  return {
    async send(_text, message) {
      // The SDK transport serializes the object that was checked (the parse of `text`).
      await transport.send(message as unknown as JSONRPCMessage);
    },
    async close() {
      stopping = true;
      await transport.close();
    },
  };
}
