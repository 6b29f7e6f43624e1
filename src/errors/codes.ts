/**
 * The closed catalogue of error codes. Every error Portcullis raises carries one of these codes;
 * `docs/errors.md` is generated from this table and a test keeps the two in sync.
 *
 * `status` is the HTTP status a request error renders with; `oauth` is the RFC 6750 §3.1 /
 * RFC 6749 §5.2 error code put in the body and in `WWW-Authenticate` where one applies.
 */
export const REQUEST_ERRORS = {
  AuthTokenMissing: {
    status: 401,
    oauth: undefined,
    summary: 'No bearer token in the Authorization header (RFC 6750 §3.1: no error code).',
  },
  AuthInvalidRequest: {
    status: 400,
    oauth: 'invalid_request',
    summary: 'The Authorization header is malformed, repeated, or uses another scheme.',
  },
  AuthTokenInvalid: {
    status: 401,
    oauth: 'invalid_token',
    summary: 'The token is malformed, its signature does not verify, or a claim is invalid.',
  },
  AuthTokenExpired: {
    status: 401,
    oauth: 'invalid_token',
    summary: 'The token has expired (or is not yet valid), allowing for the configured skew.',
  },
  AuthTokenRevoked: {
    status: 401,
    oauth: 'invalid_token',
    summary: 'The token was revoked, or introspection reports it inactive.',
  },
  AuthInvalidIssuer: {
    status: 401,
    oauth: 'invalid_token',
    summary: 'The token was issued by an issuer other than the configured one.',
  },
  AuthInvalidAudience: {
    status: 401,
    oauth: 'invalid_token',
    summary: "The token's audience does not include this resource (RFC 8707).",
  },
  AuthMissingScope: {
    status: 403,
    oauth: 'insufficient_scope',
    summary: 'The token is valid but lacks the scope the request needs.',
  },
  AuthUnavailable: {
    status: 503,
    oauth: 'temporarily_unavailable',
    summary:
      'Tokens cannot be verified right now (no key set or introspection endpoint reachable).',
  },
  RequestMalformed: {
    status: 400,
    oauth: 'invalid_request',
    summary: 'The HTTP request or its JSON-RPC body is malformed.',
  },
  RequestHeadersTooLarge: {
    status: 431,
    oauth: undefined,
    summary: 'Too many request headers, or headers too large.',
  },
  RequestBodyTooLarge: {
    status: 413,
    oauth: undefined,
    summary: 'The request body exceeds the configured cap.',
  },
  RequestTimeout: {
    status: 408,
    oauth: undefined,
    summary: 'The client was too slow sending the request.',
  },
  RequestOriginForbidden: {
    status: 403,
    oauth: undefined,
    summary: 'The Origin or Host header is not one this gateway serves (DNS rebinding defence).',
  },
  RouteNotFound: {
    status: 404,
    oauth: undefined,
    summary: 'No upstream or endpoint is served at this path.',
  },
  MethodNotAllowed: {
    status: 405,
    oauth: undefined,
    summary: 'The HTTP method is not supported at this path.',
  },
  RequestUnsupportedMediaType: {
    status: 415,
    oauth: undefined,
    summary:
      'The request body is not application/json, or carries a Content-Encoding the gateway does not accept.',
  },
  RequestNotAcceptable: {
    status: 406,
    oauth: undefined,
    summary:
      'The Accept header allows neither application/json nor text/event-stream (MCP Streamable HTTP).',
  },
  McpSessionNotFound: {
    status: 404,
    oauth: undefined,
    summary:
      'The Mcp-Session-Id names no live session of this client (expired, closed, or never issued); start a new session.',
  },
  McpMethodDenied: {
    status: 403,
    oauth: undefined,
    summary: 'The JSON-RPC method is not allowed through the gateway.',
  },
  McpToolDenied: {
    status: 403,
    oauth: undefined,
    summary: 'The tool has no scope mapping and is refused (and hidden from tools/list).',
  },
  RateLimited: {
    status: 429,
    oauth: undefined,
    summary: 'Too many requests in the configured window.',
  },
  CapacityExceeded: {
    status: 503,
    oauth: undefined,
    summary: 'Too many concurrent connections or sessions.',
  },
  AuditUnavailable: {
    status: 503,
    oauth: undefined,
    summary: 'The audit sink cannot write, so requests are refused rather than served unaudited.',
  },
  UpstreamFailed: {
    status: 502,
    oauth: undefined,
    summary: 'The upstream MCP server failed or answered invalidly.',
  },
  UpstreamUnavailable: {
    status: 503,
    oauth: undefined,
    summary: 'The upstream MCP server cannot be reached or started.',
  },
  FetchBlocked: {
    status: 502,
    oauth: undefined,
    summary:
      'An outbound URL was refused by the SSRF guard (scheme, address, redirect or development switch).',
  },
  FetchFailed: {
    status: 502,
    oauth: undefined,
    summary: 'An outbound fetch failed, timed out, or exceeded its size cap.',
  },
  OAuthInvalidRequest: {
    status: 400,
    oauth: 'invalid_request',
    summary:
      'An authorization-server request lacks a required parameter, repeats one, or is malformed (RFC 6749 §4.1.2.1, §5.2).',
  },
  OAuthInvalidClient: {
    status: 401,
    oauth: 'invalid_client',
    summary:
      'The client is unknown, its metadata document cannot be used, or its authentication failed (RFC 6749 §5.2).',
  },
  OAuthInvalidGrant: {
    status: 400,
    oauth: 'invalid_grant',
    summary:
      'The code or refresh token is invalid, expired, revoked or already used, or bound to another client, redirect URI or PKCE verifier.',
  },
  OAuthUnauthorizedClient: {
    status: 400,
    oauth: 'unauthorized_client',
    summary:
      'The client may not use this grant type, or the token it names belongs to another client.',
  },
  OAuthUnsupportedGrantType: {
    status: 400,
    oauth: 'unsupported_grant_type',
    summary:
      'Only authorization_code, refresh_token, client_credentials and the device code grant (RFC 8628) are supported.',
  },
  OAuthUnsupportedResponseType: {
    status: 400,
    oauth: 'unsupported_response_type',
    summary: 'Only response_type=code is supported (OAuth 2.1: no implicit grant).',
  },
  OAuthInvalidScope: {
    status: 400,
    oauth: 'invalid_scope',
    summary: 'A requested scope is unknown, not allowed for the client, or wider than the grant.',
  },
  OAuthInvalidTarget: {
    status: 400,
    oauth: 'invalid_target',
    summary:
      "The resource parameter is missing, repeated, malformed, or not one of the gateway's resources (RFC 8707 §2).",
  },
  OAuthAccessDenied: {
    status: 403,
    oauth: 'access_denied',
    summary: 'The user denied the authorization request on the consent page.',
  },
  OAuthAuthorizationPending: {
    status: 400,
    oauth: 'authorization_pending',
    summary:
      'Device authorization grant: the user has not yet entered the code and decided; poll again after the interval (RFC 8628 §3.5).',
  },
  OAuthSlowDown: {
    status: 400,
    oauth: 'slow_down',
    summary:
      'Device authorization grant: polled before the interval elapsed; the interval grows by 5 seconds (RFC 8628 §3.5).',
  },
  OAuthExpiredToken: {
    status: 400,
    oauth: 'expired_token',
    summary:
      'Device authorization grant: the device code expired before the user decided; start again (RFC 8628 §3.5).',
  },
  OAuthInvalidRedirectUri: {
    status: 400,
    oauth: 'invalid_redirect_uri',
    summary:
      'A registered redirect URI is not https or loopback http, has a fragment, or is malformed (RFC 7591 §3.2.2).',
  },
  OAuthInvalidClientMetadata: {
    status: 400,
    oauth: 'invalid_client_metadata',
    summary:
      'Client metadata (a registration request or a client ID metadata document) breaks a rule (RFC 7591 §3.2.2).',
  },
  LoginFailed: {
    status: 400,
    oauth: undefined,
    summary: 'Wrong username or password on the login page (which of the two is not said).',
  },
  LoginThrottled: {
    status: 429,
    oauth: undefined,
    summary: 'Too many failed sign-ins for this user or from this address; try again later.',
  },
  FormCsrfInvalid: {
    status: 403,
    oauth: undefined,
    summary:
      "A login or consent form came without its CSRF token, with another request's token, or from another browser.",
  },
  InteractionNotFound: {
    status: 400,
    oauth: undefined,
    summary:
      'The authorization request behind a login or consent page has expired or was already completed.',
  },
  InternalError: {
    status: 500,
    oauth: undefined,
    summary: 'An unexpected failure; details are in the log, never in the response.',
  },
} as const;

/** Errors that stop the program before it serves: configuration and command-line usage. */
export const CONFIG_ERRORS = {
  ConfigUnreadable: { summary: 'The configuration file cannot be read.' },
  ConfigSyntax: { summary: 'The configuration file is not valid YAML.' },
  ConfigInvalid: {
    summary:
      'The configuration breaks the schema or a fail-closed rule; every problem is listed with its key path.',
  },
  ConfigRefused: {
    summary:
      'The configuration is valid but not enough for what was asked (for example the HTTP transport without all three enabling switches).',
  },
  UsageError: { summary: 'Unknown command or flag, or a missing or malformed argument.' },
} as const;

/**
 * Errors the MCP client (`portcullis connect | login | call | logout`, `portcullis/client`) stops
 * with. Each says what went wrong and, where the user can act, what to configure.
 */
export const CLIENT_ERRORS = {
  ClientServerUrlInvalid: {
    summary:
      'The MCP server URL is not an absolute https URL (plain http is accepted for loopback hosts only).',
  },
  ClientDiscoveryFailed: {
    summary:
      'Protected resource metadata or authorization server metadata could not be found or is malformed.',
  },
  ClientResourceMismatch: {
    summary:
      "The protected resource metadata names a `resource` other than the MCP server's URL (RFC 9728 §3.3).",
  },
  ClientIssuerMismatch: {
    summary:
      "The authorization server metadata's `issuer`, or the authorization response's `iss`, is not the expected issuer (RFC 8414 §3.3, RFC 9207).",
  },
  ClientPkceUnsupported: {
    summary:
      'The authorization server does not advertise PKCE with S256 (`code_challenge_methods_supported`), so the client refuses to proceed.',
  },
  ClientRegistrationUnavailable: {
    summary:
      'No way to obtain a client ID: nothing pre-registered, no client ID metadata document support, no dynamic registration.',
  },
  ClientRegistrationFailed: {
    summary: 'Dynamic client registration (RFC 7591) was refused or answered invalidly.',
  },
  ClientUnsafeAuthorizationUrl: {
    summary:
      'The authorization URL is not http(s), carries credentials or shell metacharacters, or uses plain http to a non-loopback host; it is not opened.',
  },
  ClientAuthorizationFailed: {
    summary:
      'The authorization server answered the authorization request with an error, or the browser step could not be completed.',
  },
  ClientAuthorizationTimeout: {
    summary: 'No valid authorization response reached the loopback callback in time.',
  },
  ClientStateMismatch: {
    summary: 'An authorization response carried a missing or wrong `state` and was refused.',
  },
  ClientCallbackUnavailable: {
    summary: 'The loopback callback listener could not be bound on 127.0.0.1.',
  },
  ClientTokenRequestFailed: {
    summary: 'The token endpoint refused the request or answered invalidly.',
  },
  ClientInteractionRequired: {
    summary:
      'No usable token is stored and interaction is not allowed (`--non-interactive`); run `portcullis login URL` first.',
  },
  ClientScopeStepUpExhausted: {
    summary:
      'The server kept answering `insufficient_scope`; the client stops after 3 authorizations for one operation.',
  },
  ClientServerRefused: {
    summary:
      'The MCP server refused the request (401/403) and there is nothing more the client may do (static headers, or no OAuth challenge).',
  },
  ClientTokenStoreFailed: {
    summary:
      'The token store cannot be read, written or decrypted (wrong key, unsafe permissions, lock timeout).',
  },
  ClientToolFailed: {
    summary: 'The MCP request failed, or the tool reported an error (`isError: true`).',
  },
} as const;

export type RequestErrorCode = keyof typeof REQUEST_ERRORS;
export type ConfigErrorCode = keyof typeof CONFIG_ERRORS;
export type ClientErrorCode = keyof typeof CLIENT_ERRORS;
export type ErrorCode = RequestErrorCode | ConfigErrorCode | ClientErrorCode;
