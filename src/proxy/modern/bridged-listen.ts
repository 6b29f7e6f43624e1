import { isRecord } from '../../mcp/index.ts';
import type { ModernRequest } from '../../mcp/modern/inbound.ts';
import { META } from '../../mcp/modern/protocol.ts';
import type { Principal } from '../auth-stage.ts';
import { PushStream } from '../push-stream.ts';
import { sseHeaders } from '../responses.ts';
import { event } from './bridge-messages.ts';
import { type HeldSession, heldContext } from './held-sessions.ts';
import { MessageReader } from './message-reader.ts';

/**
 * `subscriptions/listen` on a 2025 server: the held session's GET stream, acknowledged with the
 * notification types the server can send (its listChanged capabilities), then those change
 * notifications as they come, stamped with the subscription id (the listen request's id).
 * Resource subscriptions are not honoured through the bridge (not acknowledged): a 2025
 * `resources/subscribe` is state of the whole session, not of one stream.
 */

/** Listen filter keys → the capability whose listChanged says the server sends them. */
const LISTEN_FAMILIES: Readonly<Record<string, string>> = {
  toolsListChanged: 'tools',
  promptsListChanged: 'prompts',
  resourcesListChanged: 'resources',
};
const LISTEN_METHODS: Readonly<Record<string, string>> = {
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
};

export async function bridgedListen(
  held: HeldSession,
  request: ModernRequest,
  principal: Principal,
  requestId: string,
): Promise<Response> {
  const wanted = isRecord(request.params.notifications) ? request.params.notifications : {};
  const capabilities = isRecord(held.initialize.capabilities) ? held.initialize.capabilities : {};
  const honored: Record<string, boolean> = {};
  for (const [key, family] of Object.entries(LISTEN_FAMILIES)) {
    const capability = capabilities[family];
    if (wanted[key] === true && isRecord(capability) && capability.listChanged === true) {
      honored[key] = true;
    }
  }
  const stamp = (method: string, params: Record<string, unknown>) =>
    event(
      JSON.stringify({
        jsonrpc: '2.0',
        method,
        params: { ...params, _meta: { [META.subscriptionId]: request.id } },
      }),
    );
  const upstream = new AbortController();
  const stream = new PushStream({ onCancel: () => upstream.abort() });
  stream.write(stamp('notifications/subscriptions/acknowledged', { notifications: honored }));
  const methods = new Set(Object.keys(honored).map((key) => LISTEN_METHODS[key] ?? ''));
  held.active += 1;
  const response = await held.session.get(heldContext(held, principal, requestId, upstream.signal));
  const reader = new MessageReader(response);
  upstream.signal.addEventListener('abort', () => reader.cancel(), { once: true });
  void (async () => {
    for (let message = await reader.next(); message !== undefined; message = await reader.next()) {
      const method = message.method;
      if (typeof method !== 'string' || Object.hasOwn(message, 'id') || !methods.has(method)) {
        continue;
      }
      const params = isRecord(message.params) ? message.params : {};
      if (!stream.write(stamp(method, params))) break;
    }
  })()
    .catch(() => {})
    .finally(() => {
      held.active -= 1;
      held.lastUsed = Date.now();
      stream.close();
    });
  return new Response(stream.stream, { status: 200, headers: sseHeaders() });
}
