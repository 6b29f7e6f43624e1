export {
  CLIENT_ERRORS,
  type ClientErrorCode,
  CONFIG_ERRORS,
  type ConfigErrorCode,
  type ErrorCode,
  REQUEST_ERRORS,
  type RequestErrorCode,
} from './codes.ts';
export {
  ClientError,
  ConfigError,
  type ConfigIssue,
  isClientError,
  isConfigError,
  isRequestError,
  RequestError,
} from './portcullis-error.ts';
export {
  formatClientError,
  formatConfigError,
  type RenderedError,
  renderRequestError,
} from './render.ts';
