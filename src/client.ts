/**
 * portcullis/client: the MCP authorization dance (MCP 2025-11-25) for clients of remote MCP
 * servers, an `OAuthClientProvider` for the official SDK, the encrypted token store, and the
 * stdio bridge behind `portcullis connect`. See docs/client.md.
 */
export * from './client/index.ts';
export {
  CLIENT_ERRORS,
  ClientError,
  type ClientErrorCode,
  ConfigError,
  type ConfigIssue,
  formatClientError,
  formatConfigError,
  isClientError,
  isConfigError,
  isRequestError,
  RequestError,
} from './errors/index.ts';
