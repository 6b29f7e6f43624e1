import { checkClientAuthentication, presentedClient } from '../checks/client-authentication.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import type { Client } from '../clients/client.ts';
import type { Exchange } from '../services.ts';
import { LIMITS } from '../settings.ts';

/** The form and the authenticated client of a revocation or introspection request. */
export async function readAuthenticatedForm(
  exchange: Exchange,
): Promise<{ form: Params; client: Client }> {
  const form = await readForm(exchange.request, LIMITS.formMaxBytes);
  const presented = presentedClient(exchange.request, form);
  const client = checkClientAuthentication(
    await exchange.services.clients.resolve(presented.clientId),
    presented,
  );
  return { form, client };
}
