import { RequestError } from '../../errors/index.ts';
import type { InteractionRecord } from '../../store/index.ts';
import type { Client } from '../clients/client.ts';
import { safeEqual, sha256 } from '../crypto.ts';
import { type PendingAuthorization, pendingFromJson } from '../pending-authorization.ts';
import type { Exchange } from '../services.ts';
import { browserId } from '../session.ts';

/** A pending authorization request as the login and consent pages load it. */
export interface LoadedInteraction {
  readonly record: InteractionRecord;
  readonly pending: PendingAuthorization;
  readonly client: Client | undefined;
}

const INTERACTION_ID = /^[A-Za-z0-9_-]{32}$/;

/**
 * Loads the pending request named by `id` and checks it belongs to this browser (the browser
 * cookie that started it) and has not expired. Its client is resolved again, so a client removed
 * (or a metadata document changed) since /oauth/authorize is noticed.
 */
export async function loadInteraction(
  exchange: Exchange,
  id: string | undefined,
): Promise<LoadedInteraction> {
  const gone = () =>
    new RequestError('InteractionNotFound', 'this sign-in request has expired or was already used');
  if (id === undefined || !INTERACTION_ID.test(id)) throw gone();
  const record = await exchange.services.store.getInteraction(id);
  if (record === undefined || record.expiresAt <= exchange.services.now()) throw gone();
  const browser = browserId(exchange);
  if (browser === undefined || !safeEqual(sha256(browser), record.browserHash)) {
    throw new RequestError(
      'FormCsrfInvalid',
      'this sign-in request was started in another browser; start again from the application',
    );
  }
  const pending = pendingFromJson(record.request);
  const client = await exchange.services.clients.resolve(pending.clientId);
  return { record, pending, client };
}

/** The origin a redirect URI answers at, for CSP form-action: a form's POST ends there. */
export function redirectOrigin(pending: PendingAuthorization): string[] {
  return URL.canParse(pending.redirectUri) ? [new URL(pending.redirectUri).origin] : [];
}
