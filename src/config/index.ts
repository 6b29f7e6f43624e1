export {
  type ClientServer,
  type ClientServersFile,
  clientServersSchema,
  loadClientServersFile,
} from './client-servers.ts';
export {
  type BindAddress,
  canonicalResource,
  type Derived,
  type DerivedUpstream,
  derive,
  withBoundPort,
} from './derive.ts';
export { type DescribeOptions, describeConfig, REDACTED } from './describe.ts';
export { type Expansion, expandEnv } from './env.ts';
export { missingHttpGates } from './gates.ts';
export {
  isSensitivePath,
  type LoadedConfig,
  type LoadOptions,
  loadConfigFile,
  loadConfigText,
} from './load.ts';
export { MIN_HMAC_SECRET_BYTES, RESERVED_PATHS, type Secrets } from './rules.ts';
export {
  ASYMMETRIC_ALGORITHMS,
  type Config,
  type ConfigInput,
  configSchema,
  DEFAULT_ALGORITHMS,
  JWT_BEARER_GRANT,
  MAX_CLOCK_SKEW_SECONDS,
  type UpstreamConfig,
} from './schema.ts';
export { unavailableStoreBackends } from './store-backends.ts';
