import type { IncomingMessage } from 'node:http';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** The body exceeded its cap; carries how far reading got. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/** A Content-Encoding we do not decode. */
export class UnsupportedEncodingError extends Error {
  override readonly name = 'UnsupportedEncodingError';
}

function decoderFor(encoding: string): Transform | undefined {
  switch (encoding) {
    case '':
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      // RFC 9110 §8.4.1.2: the zlib format.
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new UnsupportedEncodingError(`unsupported content-encoding ${encoding}`);
  }
}

/** Counts bytes passing through and fails once they exceed the cap. */
function byteCap(maxBytes: number, what: string): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      if (total > maxBytes) {
        callback(new BodyTooLargeError(`${what} exceeds the ${maxBytes}-byte cap`));
      } else callback(null, chunk);
    },
  });
}

/**
 * Reads a response body, decoding its Content-Encoding, and stops as soon as more than
 * `maxBytes` have been produced after decoding (or read before it). A compressed body can be
 * small on the wire and huge once inflated, so Content-Length alone proves nothing.
 */
export async function readCappedBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = String(response.headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  if (encoding.includes(',')) {
    throw new UnsupportedEncodingError('stacked content-encodings are not supported');
  }
  const decoder = decoderFor(encoding);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new BodyTooLargeError(`declared length ${declared} exceeds the ${maxBytes}-byte cap`);
  }
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  const stages: NodeJS.ReadWriteStream[] = [byteCap(maxBytes, 'body on the wire')];
  if (decoder !== undefined) stages.push(decoder, byteCap(maxBytes, 'decoded body'));
  await pipeline([response, ...stages, sink]);
  return Buffer.concat(chunks);
}
