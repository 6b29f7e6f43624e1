import { setTimeout as sleepFor } from 'node:timers/promises';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { ClientError } from '../errors/index.ts';
import {
  type DeviceAuthorization,
  deviceCodeToken,
  requestDeviceAuthorization,
  type TokenContext,
} from './token-requests.ts';
import type { ClientNotice } from './types.ts';

/** RFC 8628 §3.2: the polling interval when the server names none. */
export const DEFAULT_POLL_INTERVAL_S = 5;
/** RFC 8628 §3.5: each `slow_down` adds 5 seconds to the interval, for good. */
export const SLOW_DOWN_STEP_S = 5;

export interface DeviceFlowOptions {
  readonly notice: ClientNotice;
  /** Waits between polls (injected by tests; default: a real timer). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds since the epoch (injected by tests). */
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  /** Shows the user code and where to enter it (default: `notice`). */
  readonly show?: (device: DeviceAuthorization) => void | Promise<void>;
}

/**
 * OAuth 2.0 device authorization grant (RFC 8628), for agents and servers without a browser:
 * ask for a device code (§3.1), show the user code and the verification URI (§3.3), then poll
 * the token endpoint (§3.4) at the interval given, slower after each `slow_down` (§3.5), until
 * the person approves, denies, or the code expires.
 */
export async function runDeviceFlow(
  context: TokenContext,
  scope: string | undefined,
  options: DeviceFlowOptions,
): Promise<OAuthTokens> {
  const device = await requestDeviceAuthorization(context, scope);
  const now = options.now ?? Date.now;
  const sleep =
    options.sleep ??
    ((ms: number, signal?: AbortSignal) => sleepFor(ms, undefined, signal ? { signal } : {}));
  const deadline = now() + device.expires_in * 1000;
  if (options.show) await options.show(device);
  else showDeviceCode(device, options.notice);
  let interval = (device.interval ?? DEFAULT_POLL_INTERVAL_S) * 1000;
  for (;;) {
    await sleep(interval, options.signal);
    if (now() >= deadline) throw expired(context);
    const answer = await deviceCodeToken(context, device.device_code);
    if ('tokens' in answer) return answer.tokens;
    switch (answer.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        interval += SLOW_DOWN_STEP_S * 1000;
        options.notice(
          `The authorization server asked to poll more slowly (every ${interval / 1000} s).`,
        );
        continue;
      case 'access_denied':
        throw new ClientError(
          'ClientAuthorizationFailed',
          `the sign-in was denied at ${context.discovery.issuer}`,
        );
      case 'expired_token':
        throw expired(context);
      default:
        throw new ClientError(
          'ClientTokenRequestFailed',
          `device code grant at ${context.discovery.issuer} failed: ${answer.error}${answer.description ? ` (${answer.description})` : ''}`,
        );
    }
  }
}

function showDeviceCode(device: DeviceAuthorization, notice: ClientNotice): void {
  notice(`To sign in, open ${device.verification_uri} and enter the code: ${device.user_code}`);
  if (device.verification_uri_complete) {
    notice(`(or open ${device.verification_uri_complete} directly)`);
  }
  notice(`The code expires in ${Math.round(device.expires_in / 60)} minute(s).`);
}

function expired(context: TokenContext): ClientError {
  return new ClientError(
    'ClientAuthorizationTimeout',
    `the device code expired before the sign-in at ${context.discovery.issuer} was completed`,
    { fix: 'run portcullis login --device again and enter the new code in time' },
  );
}
