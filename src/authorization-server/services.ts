import type { AuditEvent } from '../audit/index.ts';
import type { Logger } from '../lib/log.ts';
import type { Store } from '../store/index.ts';
import type { ClientRegistry } from './clients/registry.ts';
import type { AuthorizationServerDpop } from './dpop-binding.ts';
import type { Federation } from './federation/federation.ts';
import type { AssertionGrant } from './grants/jwt-bearer.ts';
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
  /** Set on the admin listener: a sign-in there continues to the admin page. */
  readonly listener?: 'admin';
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
  /** DPoP at the token endpoint (RFC 9449 §5); undefined when no route accepts DPoP. */
  readonly dpop?: AuthorizationServerDpop | undefined;
  /** The JWT bearer grant (RFC 7523) for trusted identity providers; undefined when none. */
  readonly assertions?: AssertionGrant | undefined;
  /** Sign-in at upstream identity providers, when any is configured. */
  readonly federation?: Federation | undefined;
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
  /** What the access log says of the exchange: the client, once an endpoint knows it. */
  readonly noted: { clientId?: string };
}

type AuditFields = Omit<AuditEvent, 'request_id' | 'client_address'>;

/** Records an audit event with the request's correlation fields. Never throws. */
export function audit(exchange: Exchange, event: AuditFields): void {
  // The client an endpoint names in its audit record is the one its access-log line names.
  if (event.client_id !== undefined) exchange.noted.clientId = event.client_id;
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
