/**
 * `portcullis`: load and check a gateway configuration, and the error catalogue every part of
 * Portcullis reports with. Token verification is `portcullis/verify`; the MCP client is
 * `portcullis/client`. Every name is listed here on purpose (docs/api.md describes each one, and
 * test/api/exports.test.ts fails when this list changes without its snapshot).
 */

// Starting the server from code: the same assembly `portcullis serve` runs.
export {
  type PortcullisOptions,
  type RunningPortcullis,
  startPortcullis,
} from './assembly/index.ts';

// Configuration: load, validate (every rule, every problem at once), describe.
export {
  type BindAddress,
  type ClientServer,
  type ClientServersFile,
  type Config,
  type ConfigInput,
  type Derived,
  type DerivedUpstream,
  type DescribeOptions,
  describeConfig,
  type LoadedConfig,
  type LoadOptions,
  loadClientServersFile,
  loadConfigFile,
  loadConfigText,
  type Secrets,
  type UpstreamConfig,
} from './config/index.ts';

// The error catalogue: one class per family, one closed union of codes each.
export {
  CLIENT_ERRORS,
  ClientError,
  type ClientErrorCode,
  CONFIG_ERRORS,
  ConfigError,
  type ConfigErrorCode,
  type ConfigIssue,
  type ErrorCode,
  formatClientError,
  formatConfigError,
  isClientError,
  isConfigError,
  isRequestError,
  REQUEST_ERRORS,
  type RenderedError,
  RequestError,
  type RequestErrorCode,
  renderRequestError,
} from './errors/index.ts';
