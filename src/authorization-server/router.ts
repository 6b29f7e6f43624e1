import { RequestError } from '../errors/index.ts';
import { accountEndpoint } from './endpoints/account.ts';
import { authorizeEndpoint } from './endpoints/authorize.ts';
import { consentEndpoint } from './endpoints/consent.ts';
import { introspectEndpoint } from './endpoints/introspect.ts';
import { loginEndpoint } from './endpoints/login.ts';
import { jwksEndpoint, metadataEndpoint } from './endpoints/metadata.ts';
import { registerEndpoint } from './endpoints/register.ts';
import { revokeEndpoint } from './endpoints/revoke.ts';
import { tokenEndpoint } from './endpoints/token.ts';
import { jsonError } from './errors.ts';
import { preflightResponse } from './http.ts';
import type { Exchange } from './services.ts';
import { OAUTH_PREFIX, PATHS, type Settings } from './settings.ts';

interface Route {
  readonly methods: readonly string[];
  /** Called from script by browser-based clients: answer CORS preflights. Never for pages. */
  readonly cors: boolean;
  readonly handle: (exchange: Exchange) => Promise<Response> | Response;
}

/** The routes of one server: the well-knowns (issuer-dependent) and everything under /oauth/. */
export function routesFor(settings: Settings): ReadonlyMap<string, Route> {
  const routes = new Map<string, Route>();
  for (const path of settings.metadataPaths) {
    routes.set(path, { methods: ['GET', 'HEAD'], cors: true, handle: metadataEndpoint });
  }
  routes.set(PATHS.jwks, { methods: ['GET', 'HEAD'], cors: true, handle: jwksEndpoint });
  // OAuth 2.1 §4.1.1: GET must be supported at the authorization endpoint; POST is not offered.
  routes.set(PATHS.authorization, { methods: ['GET'], cors: false, handle: authorizeEndpoint });
  routes.set(PATHS.login, { methods: ['GET', 'POST'], cors: false, handle: loginEndpoint });
  routes.set(PATHS.consent, { methods: ['GET', 'POST'], cors: false, handle: consentEndpoint });
  routes.set(PATHS.account, { methods: ['GET', 'POST'], cors: false, handle: accountEndpoint });
  routes.set(PATHS.token, { methods: ['POST'], cors: true, handle: tokenEndpoint });
  routes.set(PATHS.revocation, { methods: ['POST'], cors: true, handle: revokeEndpoint });
  routes.set(PATHS.introspection, { methods: ['POST'], cors: false, handle: introspectEndpoint });
  if (settings.dynamicRegistration !== 'off') {
    routes.set(PATHS.registration, { methods: ['POST'], cors: true, handle: registerEndpoint });
  }
  return routes;
}

/** Whether a path belongs to the authorization server even when no route matches it. */
export function isReservedPath(pathname: string): boolean {
  return pathname === OAUTH_PREFIX || pathname.startsWith(`${OAUTH_PREFIX}/`);
}

export async function dispatch(
  routes: ReadonlyMap<string, Route>,
  exchange: Exchange,
): Promise<Response | undefined> {
  const { pathname } = exchange.url;
  const route = routes.get(pathname);
  if (route === undefined) {
    return isReservedPath(pathname)
      ? jsonError(new RequestError('RouteNotFound', `nothing is served at ${pathname}`))
      : undefined;
  }
  const method = exchange.request.method;
  if (method === 'OPTIONS' && route.cors) return preflightResponse(route.methods);
  if (!route.methods.includes(method)) {
    return jsonError(new RequestError('MethodNotAllowed', `${method} is not allowed here`), {
      headers: { allow: route.methods.join(', ') },
    });
  }
  const response = await route.handle(exchange);
  if (method === 'HEAD')
    return new Response(null, { status: response.status, headers: response.headers });
  return response;
}
