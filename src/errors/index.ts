export {
  CONFIG_ERRORS,
  type ConfigErrorCode,
  type ErrorCode,
  REQUEST_ERRORS,
  type RequestErrorCode,
} from './codes.ts';
export {
  ConfigError,
  type ConfigIssue,
  isConfigError,
  isRequestError,
  RequestError,
} from './portcullis-error.ts';
export { formatConfigError, type RenderedError, renderRequestError } from './render.ts';
