import { RequestError } from '../errors/index.ts';

/**
 * Requests the front refuses with their precise status rather than a failure deeper in:
 * methods nothing here implements, and transfer codings it cannot decode.
 */

/**
 * Methods the Fetch standard forbids in a Web Request (so the mounted authorization server could
 * not even be asked) and no route here implements: CONNECT, and TRACE/TRACK, which would echo
 * credentials back (RFC 9110 §9.3.8 security considerations).
 */
const UNIMPLEMENTED: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * RFC 9110 §9.1: a method the server does not implement is 501 Not Implemented, answered before
 * any handler sees it. (On an MCP route the endpoint answers 405 with its Allow list itself.)
 */
export function checkMethodImplemented(method: string | undefined): void {
  if (method === undefined || !UNIMPLEMENTED.has(method.toUpperCase())) return;
  throw new RequestError('MethodNotImplemented', `${method} is not implemented here`);
}

/**
 * RFC 9112 §6.1: chunked is the only transfer coding understood here, and it must be the only
 * one; `gzip, chunked` would otherwise be de-chunked and its gzip layer passed on unnoticed.
 */
export function checkTransferCoding(transferEncoding: string | undefined): void {
  if (transferEncoding === undefined) return;
  const codings = transferEncoding
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '');
  if (codings.length === 1 && codings[0] === 'chunked') return;
  throw new RequestError(
    'TransferCodingNotImplemented',
    `transfer coding ${JSON.stringify(transferEncoding)} is not implemented; only chunked is`,
  );
}
