import { RequestError } from '../errors/index.ts';

/** Thrown when the store holds data written by a newer schema than this code knows. */
export class StoreSchemaError extends Error {
  override readonly name = 'StoreSchemaError';
}

/**
 * Thrown by a store operation when its backend cannot answer (Redis unreachable, timed out,
 * failing over). The request that needed it must be refused (503 with Retry-After, RFC 9110
 * §15.6.4 and §10.2.3), never served as if the check had passed: a skipped reuse or revocation
 * check is a security hole, a refused request is only an outage.
 */
export class StoreUnavailableError extends RequestError {
  /** Seconds a client should wait before trying again. */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    const retryAfterSeconds = options.retryAfterSeconds ?? 1;
    super('StoreUnavailable', message, {
      expose: false,
      details: { retryAfter: String(retryAfterSeconds) },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}
