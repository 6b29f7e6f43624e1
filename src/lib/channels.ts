import { channel } from 'node:diagnostics_channel';

/**
 * Named diagnostics channels: modules publish what happened, src/metrics turns it into
 * Prometheus series. Publishing costs next to nothing when nobody listens, and no module below
 * metrics needs to import it.
 */

/** One answered gateway request. */
export interface RequestMessage {
  readonly upstream: string;
  /** JSON-RPC method, or the HTTP method for non-MCP routes. */
  readonly method: string;
  readonly decision: 'allow' | 'deny' | 'error';
  readonly status: number;
  /** Time spent in the gateway itself, excluding the upstream. */
  readonly overheadSeconds: number;
  /** Time spent waiting on the upstream, when it was called. */
  readonly upstreamSeconds?: number;
}

/** One access-token verification. */
export interface VerificationMessage {
  /** `ok`, or the error code (AuthTokenExpired, …). */
  readonly outcome: string;
  /** True when answered from the verified-token cache. */
  readonly cached: boolean;
}

/** One JWKS (or metadata) fetch. */
export interface KeySetFetchMessage {
  readonly outcome: 'ok' | 'error';
}

/** One request refused by the rate limiter. */
export interface RateLimitMessage {
  readonly scope: 'address' | 'session' | 'subject';
}

export const requestChannel = channel('portcullis:request');
export const verificationChannel = channel('portcullis:verification');
export const keySetFetchChannel = channel('portcullis:key-set-fetch');
export const rateLimitChannel = channel('portcullis:rate-limit');

/** Publishes only when someone listens, so the hot path pays nothing otherwise. */
export function publish<T extends object>(target: ReturnType<typeof channel>, message: T): void {
  if (target.hasSubscribers) target.publish(message);
}

/**
 * One verification outcome: `ok`, or the error's code (a closed catalogue, so the label stays
 * bounded). Anything without a code counts as `error`.
 */
export function publishVerification(outcome: unknown, cached: boolean): void {
  if (!verificationChannel.hasSubscribers) return;
  const code =
    outcome === 'ok'
      ? 'ok'
      : outcome !== null &&
          typeof outcome === 'object' &&
          typeof (outcome as { code?: unknown }).code === 'string'
        ? (outcome as { code: string }).code
        : 'error';
  verificationChannel.publish({ outcome: code, cached } satisfies VerificationMessage);
}
