import type { IncomingMessage } from 'node:http';
import { RequestError } from '../errors/index.ts';

/**
 * Request bodies, bounded. A declared Content-Length above the cap is refused before a byte is
 * read (no 100 Continue either: HT-09 in docs/security-cases.md); a chunked body is counted as
 * it arrives and refused the moment it crosses the cap. Either way the connection is closed after
 * the 413.
 */

/** Content-Length as a number, undefined when absent (Node has already refused junk). */
export function declaredLength(headers: Readonly<Record<string, string>>): number | undefined {
  const value = headers['content-length'];
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    throw new RequestError('RequestMalformed', 'Content-Length must be a decimal number');
  }
  return Number(value);
}

export function checkDeclaredLength(length: number | undefined, maxBytes: number): void {
  if (length !== undefined && length > maxBytes) {
    throw new RequestError('RequestBodyTooLarge', `the body exceeds ${maxBytes} bytes`);
  }
}

export function readBody(request: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  if (request.complete && !request.readableFlowing) {
    // The whole body arrived with the head (a small POST usually does): it waits in the
    // stream's buffer, so it is taken from there at once, with no listeners and no flowing mode.
    try {
      return Promise.resolve(bufferedBody(request, maxBytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        request.pause();
        reject(new RequestError('RequestBodyTooLarge', `the body exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new RequestError('RequestMalformed', 'the body could not be read', { cause: error }));
    };
    const onAborted = () => {
      cleanup();
      reject(new RequestError('RequestMalformed', 'the client went away', { expose: false }));
    };
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('error', onError);
    request.once('aborted', onAborted);
  });
}

/** The body of a request whose last byte has arrived, read from the stream's buffer. */
function bufferedBody(request: IncomingMessage, maxBytes: number): Uint8Array {
  const chunks: Buffer[] = [];
  let size = 0;
  for (let chunk = request.read() as Buffer | null; chunk !== null; chunk = request.read()) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new RequestError('RequestBodyTooLarge', `the body exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}
