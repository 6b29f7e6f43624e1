import { RequestError } from '../errors/index.ts';
import { isLoopbackHost } from '../lib/host.ts';
import type { GuardedFetch } from './types.ts';

/*
 * INTERIM — to be replaced by src/net's createGuardedFetch (issue 3) when the branches merge.
 *
 * A deliberately small stand-in with the same signature and the same refusals where they can be
 * made without a resolver: schemes other than https (plain http only to loopback under
 * `allowLoopback`), loopback hosts without `allowLoopback`, userinfo, redirects (a 3xx answer
 * rejects, it is never followed nor returned), bodies over the cap, slow answers. What it does NOT
 * do, and src/net does: resolve names and refuse private or special-use addresses on the address
 * actually connected to. Only the CLI uses it; the library takes whatever fetch it is given.
 */

export interface InterimGuardedFetchOptions {
  readonly allowLoopback?: boolean;
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function createInterimGuardedFetch(options: InterimGuardedFetchOptions = {}): GuardedFetch {
  const allowLoopback = options.allowLoopback === true;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 1024 * 1024;

  return async function interimGuardedFetch(input, init = {}) {
    const url = new URL(String(input));
    const where = `${url.protocol}//${url.host}`;
    const blocked = (why: string) =>
      new RequestError('FetchBlocked', `${where}: ${why}`, { expose: false });
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw blocked(`scheme ${url.protocol} is not allowed`);
    }
    if (url.username || url.password) throw blocked('URLs with credentials are not fetched');
    const loopback = isLoopbackHost(url.hostname);
    if (loopback && !allowLoopback) throw blocked('loopback hosts are not allowed');
    if (url.protocol === 'http:' && !loopback)
      throw blocked('plain http is allowed to loopback only');

    const signal = init.signal
      ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)])
      : AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { ...init, redirect: 'manual', signal });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new RequestError('FetchFailed', `${where}: ${(error as Error).message}`, {
        expose: false,
        cause: error,
      });
    }
    if (REDIRECTS.has(response.status)) {
      await response.body?.cancel();
      throw blocked(`answered ${response.status}; redirects are never followed`);
    }
    const body = await readCapped(response, maxBytes, where);
    return new Response(body.byteLength === 0 && response.status === 204 ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

async function readCapped(response: Response, maxBytes: number, where: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (!response.body) return Buffer.alloc(0);
  try {
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        throw new RequestError('FetchFailed', `${where}: body exceeds ${maxBytes} bytes`, {
          expose: false,
        });
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (error) {
    if (error instanceof RequestError) throw error;
    throw new RequestError('FetchFailed', `${where}: ${(error as Error).message}`, {
      expose: false,
      cause: error,
    });
  }
  return Buffer.concat(chunks);
}
