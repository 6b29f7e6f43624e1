import { RequestError } from '../../errors/index.ts';

/**
 * RFC 8707 §2: `resource` is an absolute URI without a fragment, and the authorization server
 * issues tokens only for resources it knows. Here: exactly one of the gateway's resource URIs,
 * compared as strings (the MCP client sends the protected resource metadata's `resource`
 * verbatim). A repeated parameter has already been refused as `invalid_request`.
 */
export function checkResource(value: string | undefined, known: readonly string[]): string {
  if (value === undefined || value === '') {
    throw new RequestError(
      'OAuthInvalidTarget',
      "resource is required: the URI of the gateway's MCP endpoint (RFC 8707)",
    );
  }
  if (!URL.canParse(value) || value.includes('#')) {
    throw new RequestError(
      'OAuthInvalidTarget',
      'resource must be an absolute URI without a fragment',
    );
  }
  if (!known.includes(value)) {
    throw new RequestError('OAuthInvalidTarget', 'resource is not served by this gateway');
  }
  return value;
}

/** At the token endpoint the resource may be omitted; if given, it must be the one authorized. */
export function checkSameResource(value: string | undefined, authorized: string): string {
  if (value === undefined) return authorized;
  if (value !== authorized) {
    throw new RequestError(
      'OAuthInvalidTarget',
      'resource differs from the one this grant was authorized for',
    );
  }
  return authorized;
}
