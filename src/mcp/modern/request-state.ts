import { createHash } from 'node:crypto';
import { EncryptJWT, errors as joseErrors, jwtDecrypt } from 'jose';
import { isRecord } from '../json-rpc.ts';

/**
 * The `requestState` the gateway hands a modern client when it bridges a legacy server's
 * server-to-client request into an InputRequiredResult (basic/patterns/mrtr). The client echoes
 * it back unchanged on its retry, so it is attacker-controlled input: it is sealed with AEAD
 * (JWE "dir" + A256GCM, RFC 7516 / RFC 7518 §5.3, keyed by the gateway alone) and carries what
 * mrtr "Server Requirements" asks for — the authenticated principal, a short expiry and the
 * originating request (method, name and a digest of its parameters) — plus the upstream it
 * belongs to. open() refuses anything tampered, expired, presented by another subject, sent to
 * another upstream, or attached to a different request.
 */

/** What a state is bound to. */
export interface StateBinding {
  readonly subject: string;
  readonly upstream: string;
  readonly method: string;
  /** The request's params; `_meta` and the retry fields do not count (they change on retry). */
  readonly params: Readonly<Record<string, unknown>>;
}

export type OpenFailure =
  | 'malformed'
  | 'tampered'
  | 'expired'
  | 'foreign-subject'
  | 'foreign-upstream'
  | 'other-request';

export type OpenResult =
  | { readonly ok: true; readonly state: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reason: OpenFailure };

export interface RequestStateSealerOptions {
  /** 32 bytes of key material (A256GCM); keep it out of logs and config files. */
  readonly key: Uint8Array;
  /** Lifetime of a state; short, since a person answers an elicitation within minutes. */
  readonly ttlSeconds: number;
  /** The clock (tests pass a fixed one). */
  readonly now?: () => Date;
}

const TYPE = 'portcullis-request-state';
/** Params fields that differ between a request and its retry (mrtr "Basic Workflow"). */
const RETRY_FIELDS = new Set(['_meta', 'inputResponses', 'requestState']);
/** States larger than this are refused unread: a client must not make us decrypt megabytes. */
const MAX_STATE_LENGTH = 64 * 1024;

export class RequestStateSealer {
  readonly #key: Uint8Array;
  readonly #ttlSeconds: number;
  readonly #now: () => Date;

  constructor(options: RequestStateSealerOptions) {
    if (options.key.byteLength !== 32) {
      throw new RangeError('the requestState key must be 32 bytes (A256GCM)');
    }
    if (!(options.ttlSeconds > 0)) throw new RangeError('the requestState TTL must be positive');
    this.#key = options.key;
    this.#ttlSeconds = options.ttlSeconds;
    this.#now = options.now ?? (() => new Date());
  }

  async seal(binding: StateBinding, state: Readonly<Record<string, unknown>>): Promise<string> {
    const issuedAt = Math.floor(this.#now().getTime() / 1000);
    return new EncryptJWT({
      typ: TYPE,
      up: binding.upstream,
      req: requestDigest(binding.method, binding.params),
      st: state,
    })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setSubject(binding.subject)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.#ttlSeconds)
      .encrypt(this.#key);
  }

  async open(token: unknown, binding: StateBinding): Promise<OpenResult> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_STATE_LENGTH) {
      return { ok: false, reason: 'malformed' };
    }
    let payload: Readonly<Record<string, unknown>>;
    try {
      const result = await jwtDecrypt(token, this.#key, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        currentDate: this.#now(),
        clockTolerance: 0,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      payload = result.payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
      if (error instanceof joseErrors.JWEInvalid || error instanceof joseErrors.JWTInvalid) {
        return { ok: false, reason: 'malformed' };
      }
      return { ok: false, reason: 'tampered' };
    }
    if (payload.typ !== TYPE || !isRecord(payload.st)) return { ok: false, reason: 'malformed' };
    if (payload.sub !== binding.subject) return { ok: false, reason: 'foreign-subject' };
    if (payload.up !== binding.upstream) return { ok: false, reason: 'foreign-upstream' };
    if (payload.req !== requestDigest(binding.method, binding.params)) {
      return { ok: false, reason: 'other-request' };
    }
    return { ok: true, state: payload.st };
  }
}

/** Method plus a SHA-256 of the canonical JSON of the params that define the request. */
export function requestDigest(method: string, params: Readonly<Record<string, unknown>>): string {
  const salient: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if (!RETRY_FIELDS.has(key)) salient[key] = value;
  }
  const hash = createHash('sha256').update(canonicalJson(salient)).digest('base64url');
  return `${method} ${hash}`;
}

/** JSON with object keys sorted, so that equal values hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
