import { RequestError } from '../../errors/index.ts';

/** OAuth 2.1 §4.1.1 and RFC 9700 §2.1.2: the authorization code flow only; no implicit grant. */
export function checkResponseType(value: string | undefined): void {
  if (value === undefined || value === '') {
    throw new RequestError('OAuthInvalidRequest', 'response_type is required (code)');
  }
  if (value !== 'code') {
    throw new RequestError('OAuthUnsupportedResponseType', 'only response_type=code is supported');
  }
}
