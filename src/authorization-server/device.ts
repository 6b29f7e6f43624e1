import { randomInt } from 'node:crypto';
import type { JsonObject, Store } from '../store/index.ts';
import { sha256 } from './crypto.ts';

/** RFC 8628 §3.4: the grant type the client polls the token endpoint with. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * RFC 8628 §6.1: a user code easy to type and hard to guess. 20 consonants (no vowels, so no
 * words; no look-alike letters), 8 of them: 20^8 ≈ 2.6·10^10 codes, shown as XXXX-XXXX. With the
 * 10-minute life and the sign-in in front of the page, guessing is out of reach.
 */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

export function newUserCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** What a person typed, as stored: upper case, separators and spaces dropped (RFC 8628 §6.1). */
export function normalizeUserCode(typed: string): string {
  return typed.toUpperCase().replace(/[^A-Z]/g, '');
}

/** A device authorization between the device request and the token it ends in. */
export interface DeviceAuthorizationState {
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly resource: string;
  readonly status: 'pending' | 'approved' | 'denied';
  /** The user who approved it. */
  readonly subject?: string;
  /** Seconds between polls; grows with each slow_down. */
  readonly interval: number;
  /** When the client last polled (ms), for slow_down. */
  readonly lastPollAt?: number;
}

/*
 * Stored with the store's interaction records (short-lived, single-use, atomic take), under ids
 * derived from hashes, so neither the device code nor the user code is kept in clear:
 * `device:<sha256(device_code)>` holds the state, `user-code:<sha256(user code)>` points to it
 * until the code is entered once.
 */
export const deviceRecordId = (deviceCode: string) => `device:${sha256(deviceCode)}`;
export const userCodeRecordId = (userCode: string) =>
  `user-code:${sha256(normalizeUserCode(userCode))}`;

export async function putDeviceState(
  store: Store,
  id: string,
  state: DeviceAuthorizationState,
  createdAt: number,
  expiresAt: number,
): Promise<void> {
  await store.putInteraction({
    id,
    browserHash: '',
    request: { device: JSON.parse(JSON.stringify(state)) as JsonObject },
    createdAt,
    expiresAt,
  });
}

export function deviceStateFrom(request: JsonObject): DeviceAuthorizationState | undefined {
  const device = request.device as Record<string, unknown> | undefined;
  if (device === undefined || typeof device !== 'object') return undefined;
  const status = device.status;
  if (status !== 'pending' && status !== 'approved' && status !== 'denied') return undefined;
  return {
    clientId: String(device.clientId),
    scopes: Array.isArray(device.scopes) ? device.scopes.map(String) : [],
    resource: String(device.resource),
    status,
    ...(typeof device.subject === 'string' ? { subject: device.subject } : {}),
    interval: typeof device.interval === 'number' ? device.interval : 5,
    ...(typeof device.lastPollAt === 'number' ? { lastPollAt: device.lastPollAt } : {}),
  };
}
