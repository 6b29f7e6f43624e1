import type { AuditEvent } from '../audit/index.ts';
import type { Logger } from '../lib/log.ts';
import type { Store } from '../store/index.ts';
import type { ClientRegistry } from './clients/registry.ts';
import type { KeyRing } from './keys.ts';
import type { Settings } from './settings.ts';

/** Anything that takes audit records; the gateway passes its AuditSink. */
export interface AuditRecorder {
  record(event: AuditEvent): unknown;
}

/** What the gateway knows about a request that the Request itself does not say. */
export interface RequestContext {
  /** The client's address (after trusted_proxies); keys login throttling and registration limits. */
  readonly clientAddress?: string;
  readonly requestId?: string;
}

/** Shared by every endpoint of one authorization server. */
export interface Services {
  readonly settings: Settings;
  readonly store: Store;
  readonly logger: Logger | undefined;
  readonly audit: AuditRecorder | undefined;
  readonly now: () => number;
  readonly keys: KeyRing;
  readonly clients: ClientRegistry;
  /** For dynamic_registration: token. */
  readonly initialAccessToken: string | undefined;
}

/** One request on its way through an endpoint's steps. */
export interface Exchange {
  readonly request: Request;
  readonly url: URL;
  readonly context: RequestContext;
  readonly services: Services;
  /**
   * Headers the steps add on the way (Set-Cookie for the browser id or a new session, a
   * Retry-After): they go out with whatever answer ends the exchange, an error included.
   */
  readonly responseHeaders: Headers;
}

type AuditFields = Omit<AuditEvent, 'request_id' | 'client_address'>;

/** Records an audit event with the request's correlation fields. Never throws. */
export function audit(exchange: Exchange, event: AuditFields): void {
  try {
    exchange.services.audit?.record({
      ...event,
      request_id: exchange.context.requestId,
      client_address: exchange.context.clientAddress,
    });
  } catch (error) {
    exchange.services.logger?.error({ err: error }, 'audit record failed');
  }
}
