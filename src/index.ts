/**
 * portcullis: configuration loading and the error catalogue. The token verifier is exported from
 * `portcullis/verify` and the MCP client from `portcullis/client`.
 */
export * from './config/index.ts';
export * from './errors/index.ts';
