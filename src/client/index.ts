/**
 * The MCP client: the authorization dance of MCP 2025-11-25 for any remote MCP server, with the
 * official SDK for the protocol. Exported as `portcullis/client`.
 */
export {
  createAuthenticatedFetch,
  createStaticHeadersFetch,
  type FetchLike,
  MAX_AUTHORIZATIONS_PER_OPERATION,
} from './auth-fetch.ts';
export {
  type AuthorizationResponseExpectation,
  type CallbackServer,
  DEFAULT_CALLBACK_TIMEOUT_MS,
  startCallbackServer,
} from './callback-server.ts';
export {
  type AuthorizationServerMetadata,
  type Discovery,
  discover,
  discoverAuthorizationServer,
  issuerMatches,
  type ResourceMetadata,
} from './discovery.ts';
export {
  type AggregateEntry,
  type AggregateOptions,
  runAggregateStdio,
  TOOL_SEPARATOR,
} from './multi-server.ts';
export {
  type AuthorizationOpener,
  browserOpener,
  createOpener,
  fetchOpener,
  OPEN_MODES,
  type OpenContext,
  type OpenMode,
  platformOpenCommand,
  printOpener,
  type SpawnLike,
} from './opener.ts';
export { PortcullisOAuthProvider, type PortcullisProviderOptions } from './provider.ts';
export { obtainClient } from './registration.ts';
export { BRIDGE_ERROR_CODE, type RelayOptions, runRelayBridge } from './relay-bridge.ts';
export {
  asClientError,
  callTool,
  connectRemote,
  isProtocolChoice,
  negotiationMode,
  PROTOCOL_CHOICES,
  type ProtocolChoice,
  type RemoteConnection,
  type RemoteOptions,
  remoteTransport,
} from './remote-client.ts';
export { canonicalResource, isLoopbackUrl, parseServerUrl, sameResource } from './resource.ts';
export { selectScope, unionScopes } from './scope.ts';
export { DEFAULT_REFRESH_MARGIN_MS, OAuthSession, type OAuthSessionOptions } from './session.ts';
export { parseHeaderFlags } from './static-headers.ts';
export {
  type BridgeOptions,
  type LocalOpening,
  readOpening,
  runStdioBridge,
} from './stdio-bridge.ts';
export { TOKEN_KEY_ENV } from './store-crypto.ts';
export { type PrivateKeyOption, signingAlgorithm } from './token-requests.ts';
export { defaultTokenStoreDir, type ServerRecord, TokenStore } from './token-store.ts';
export { runTranslatingBridge, type TranslatingBridgeOptions } from './translating-bridge.ts';
export type { ClientNotice, GuardedFetch, StoredClient, StoredTokens } from './types.ts';
export { checkAuthorizationEndpoint, checkOpenableUrl, type UrlPolicy } from './url-safety.ts';
export { type BearerChallenge, bearerChallenge } from './www-authenticate.ts';
