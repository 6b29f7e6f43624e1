/**
 * `portcullis/client`: the MCP authorization dance for clients of remote MCP servers — an OAuth
 * session with its authenticated fetch, an `OAuthClientProvider` for the official SDK, the
 * encrypted token store, how the authorization URL reaches the user — plus the SSRF-guarded
 * fetch the dance needs and the errors it reports. The commands built on it (`connect`, `login`,
 * `call`, `logout`) are not part of this API. Every name is listed here on purpose (docs/api.md;
 * test/api/exports.test.ts).
 */

export {
  type AuthorizationOpener,
  browserOpener,
  type ClientNotice,
  callTool,
  checkOpenableUrl,
  connectRemote,
  createAuthenticatedFetch,
  createOpener,
  createStaticHeadersFetch,
  DEFAULT_REFRESH_MARGIN_MS,
  defaultTokenStoreDir,
  type FetchLike,
  fetchOpener,
  MAX_AUTHORIZATIONS_PER_OPERATION,
  OAuthSession,
  type OAuthSessionOptions,
  type OpenContext,
  type OpenMode,
  PortcullisOAuthProvider,
  type PortcullisProviderOptions,
  type PrivateKeyOption,
  parseServerUrl,
  printOpener,
  remoteTransport,
  type ServerRecord,
  type SpawnLike,
  type StoredClient,
  type StoredTokens,
  TOKEN_KEY_ENV,
  TokenStore,
  type UrlPolicy,
} from './client/index.ts';
export type { RemoteOptions } from './client/remote-client.ts';
export {
  CLIENT_ERRORS,
  ClientError,
  type ClientErrorCode,
  isClientError,
  isRequestError,
  RequestError,
  type RequestErrorCode,
} from './errors/index.ts';
export { createGuardedFetch, type GuardedFetch, type GuardedFetchOptions } from './net/index.ts';
