/**
 * portcullis/client: the MCP authorization dance for clients. This entry point grows with the
 * client; today it carries the error types the client reports with.
 */
export { ConfigError, type ConfigIssue, formatConfigError, isConfigError } from './errors/index.ts';
