import { REQUEST_ERRORS, RequestError, type RequestErrorCode } from '../errors/index.ts';
import type { JsonObject } from '../store/index.ts';

/** A validated authorization request waiting for sign-in and consent. */
export interface PendingAuthorization {
  readonly clientId: string;
  /** The redirect URI exactly as requested (a loopback one keeps its port). */
  readonly redirectUri: string;
  readonly state: string | undefined;
  readonly scopes: readonly string[];
  readonly resource: string;
  readonly codeChallenge: string;
  /**
   * An error found after the redirect URI was validated, for a client anyone can register: it
   * is sent back only once the user has signed in (RFC 9700 §4.11.2), so the server is not an
   * open redirector for unauthenticated visitors.
   */
  readonly error?: { readonly code: RequestErrorCode; readonly message: string };
  /**
   * RFC 8628: the device authorization this sign-in decides (the user code was entered at
   * /oauth/device); there is no redirect then, the decision goes to the polling device.
   */
  readonly deviceId?: string;
}

export function pendingToJson(pending: PendingAuthorization): JsonObject {
  return JSON.parse(JSON.stringify(pending)) as JsonObject;
}

export function pendingFromJson(json: JsonObject): PendingAuthorization {
  const error = json.error as { code?: unknown; message?: unknown } | undefined;
  return {
    clientId: String(json.clientId),
    redirectUri: String(json.redirectUri),
    state: typeof json.state === 'string' ? json.state : undefined,
    scopes: Array.isArray(json.scopes) ? json.scopes.map(String) : [],
    resource: String(json.resource),
    codeChallenge: String(json.codeChallenge),
    ...(typeof json.deviceId === 'string' ? { deviceId: json.deviceId } : {}),
    ...(error !== undefined && typeof error.code === 'string' && error.code in REQUEST_ERRORS
      ? { error: { code: error.code as RequestErrorCode, message: String(error.message) } }
      : {}),
  };
}

export function pendingError(pending: PendingAuthorization): RequestError | undefined {
  return pending.error === undefined
    ? undefined
    : new RequestError(pending.error.code, pending.error.message);
}
