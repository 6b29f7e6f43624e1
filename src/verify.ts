/**
 * portcullis/verify: access-token verification for resource servers. This entry point grows with
 * the verification core; today it carries the error catalogue that verification reports with.
 */
export {
  isRequestError,
  REQUEST_ERRORS,
  type RenderedError,
  RequestError,
  type RequestErrorCode,
  renderRequestError,
} from './errors/index.ts';
