import { RequestError } from '../errors/index.ts';
import type { HttpAnswer } from '../lib/http-answer.ts';
import { type Endpoint, renderEndpointError, runEndpoint } from './endpoint.ts';
import { accountEndpoint } from './endpoints/account.ts';
import { authorizeEndpoint } from './endpoints/authorize.ts';
import { consentEndpoint } from './endpoints/consent.ts';
import { deviceEndpoint } from './endpoints/device.ts';
import { deviceAuthorizationEndpoint } from './endpoints/device-authorization.ts';
import { introspectEndpoint } from './endpoints/introspect.ts';
import { loginEndpoint } from './endpoints/login.ts';
import { jwksEndpoint, metadataEndpoint } from './endpoints/metadata.ts';
import { registerEndpoint } from './endpoints/register.ts';
import { revokeEndpoint } from './endpoints/revoke.ts';
import { tokenEndpoint } from './endpoints/token.ts';
import { CORS_HEADERS, preflightReply, toResponse } from './http.ts';
import type { Exchange } from './services.ts';
import { OAUTH_PREFIX, PATHS, type Settings } from './settings.ts';

interface Route {
  readonly methods: readonly string[];
  // biome-ignore lint/suspicious/noExplicitAny: each endpoint has its own state type; the router only runs them.
  readonly endpoint: Endpoint<any>;
}

/** The routes of one server: the well-knowns (issuer-dependent) and everything under /oauth/. */
export function routesFor(settings: Settings): ReadonlyMap<string, Route> {
  const routes = new Map<string, Route>();
  for (const path of settings.metadataPaths) {
    routes.set(path, { methods: ['GET', 'HEAD'], endpoint: metadataEndpoint });
  }
  routes.set(PATHS.jwks, { methods: ['GET', 'HEAD'], endpoint: jwksEndpoint });
  // OAuth 2.1 §4.1.1: GET must be supported at the authorization endpoint; POST is not offered.
  routes.set(PATHS.authorization, { methods: ['GET'], endpoint: authorizeEndpoint });
  routes.set(PATHS.login, { methods: ['GET', 'POST'], endpoint: loginEndpoint });
  routes.set(PATHS.consent, { methods: ['GET', 'POST'], endpoint: consentEndpoint });
  routes.set(PATHS.account, { methods: ['GET', 'POST'], endpoint: accountEndpoint });
  routes.set(PATHS.token, { methods: ['POST'], endpoint: tokenEndpoint });
  routes.set(PATHS.deviceAuthorization, {
    methods: ['POST'],
    endpoint: deviceAuthorizationEndpoint,
  });
  routes.set(PATHS.device, { methods: ['GET', 'POST'], endpoint: deviceEndpoint });
  routes.set(PATHS.revocation, { methods: ['POST'], endpoint: revokeEndpoint });
  routes.set(PATHS.introspection, { methods: ['POST'], endpoint: introspectEndpoint });
  if (settings.dynamicRegistration !== 'off') {
    routes.set(PATHS.registration, { methods: ['POST'], endpoint: registerEndpoint });
  }
  return routes;
}

/** Whether a path belongs to the authorization server even when no route matches it. */
export function isReservedPath(pathname: string): boolean {
  return pathname === OAUTH_PREFIX || pathname.startsWith(`${OAUTH_PREFIX}/`);
}

/** Errors met before any endpoint runs (no such path, wrong method): OAuth JSON, no CORS. */
const ROUTING_ERRORS = { errors: 'oauth', cors: false } as const;

export async function dispatch(
  routes: ReadonlyMap<string, Route>,
  exchange: Exchange,
): Promise<Response | undefined> {
  const { pathname } = exchange.url;
  const route = routes.get(pathname);
  if (route === undefined) {
    if (!isReservedPath(pathname)) return undefined;
    const error = new RequestError('RouteNotFound', `nothing is served at ${pathname}`);
    return toResponse(
      renderEndpointError(error, ROUTING_ERRORS, exchange),
      exchange.responseHeaders,
    );
  }
  const method = exchange.request.method;
  let answer: HttpAnswer;
  if (method === 'OPTIONS' && route.endpoint.cors) {
    answer = preflightReply(route.methods);
  } else if (!route.methods.includes(method)) {
    const error = new RequestError('MethodNotAllowed', `${method} is not allowed here`, {
      details: { allow: route.methods.join(', ') },
    });
    answer = renderEndpointError(error, ROUTING_ERRORS, exchange);
  } else {
    answer = await runEndpoint(route.endpoint, exchange);
  }
  // Script on any origin may read what a CORS endpoint answers, errors included (no cookies
  // are involved on these endpoints, so `*` grants nothing a server-side client lacks).
  if (route.endpoint.cors) answer = { ...answer, headers: { ...CORS_HEADERS, ...answer.headers } };
  return toResponse(answer, exchange.responseHeaders, method === 'HEAD');
}
