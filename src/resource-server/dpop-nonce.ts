import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/**
 * Server-provided DPoP nonces (RFC 9449 §8, §9) without server state: a nonce is the current
 * time step and an HMAC of it, so every instance holding the same secret issues and accepts the
 * same nonces. One is accepted during its own step and the next, so a client that just fetched
 * one never sees it refused at a step boundary.
 */
export interface DpopNonces {
  /** The nonce to send in `DPoP-Nonce` now. */
  current(nowMs: number): string;
  /** True when `nonce` was issued by this server during the current or the previous step. */
  accepts(nonce: unknown, nowMs: number): boolean;
}

export const DEFAULT_NONCE_STEP_SECONDS = 60;
const MAC_BYTES = 16;

export function createDpopNonces(options: {
  readonly secret: Uint8Array;
  readonly stepSeconds?: number;
}): DpopNonces {
  if (!(options.secret instanceof Uint8Array) || options.secret.length < 32) {
    throw new TypeError('the DPoP nonce secret must be at least 32 bytes');
  }
  const key: KeyObject = createSecretKey(
    createHmac('sha256', options.secret).update('portcullis dpop nonce v1').digest(),
  );
  const stepMs = (options.stepSeconds ?? DEFAULT_NONCE_STEP_SECONDS) * 1000;
  if (!Number.isFinite(stepMs) || stepMs < 1000) throw new TypeError('stepSeconds must be ≥ 1');

  function nonceFor(step: number): Buffer {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(step));
    const mac = createHmac('sha256', key).update(counter).digest().subarray(0, MAC_BYTES);
    return Buffer.concat([counter, mac]);
  }

  let cachedStep = -1;
  let cachedNonce = '';

  return {
    current(nowMs) {
      const step = Math.floor(nowMs / stepMs);
      if (step !== cachedStep) {
        cachedStep = step;
        cachedNonce = nonceFor(step).toString('base64url');
      }
      return cachedNonce;
    },
    accepts(nonce, nowMs) {
      if (typeof nonce !== 'string' || nonce.length !== 32) return false;
      const bytes = Buffer.from(nonce, 'base64url');
      if (bytes.length !== 8 + MAC_BYTES || bytes.toString('base64url') !== nonce) return false;
      const step = Number(bytes.readBigUInt64BE(0));
      const now = Math.floor(nowMs / stepMs);
      if (step !== now && step !== now - 1) return false;
      return timingSafeEqual(bytes, nonceFor(step));
    },
  };
}
