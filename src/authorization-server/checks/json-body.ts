import { RequestError } from '../../errors/index.ts';
import { parseStrictJson } from '../../lib/strict-json.ts';

/** Client metadata nests a few levels at most (RFC 7591 §2: a `jwks` object is the deepest). */
export const CLIENT_METADATA_MAX_DEPTH = 16;

/**
 * Parses a client metadata document (a registration request body, RFC 7591 §3.1) with the one
 * strict JSON parser: invalid JSON, a member name given twice (RFC 8259 §4) or nesting deeper
 * than 16 levels is `OAuthInvalidClientMetadata` (RFC 7591 §3.2.2).
 */
export function parseClientMetadataJson(text: string): unknown {
  try {
    return parseStrictJson(text, { maxDepth: CLIENT_METADATA_MAX_DEPTH });
  } catch (error) {
    throw new RequestError('OAuthInvalidClientMetadata', (error as Error).message, {
      cause: error,
    });
  }
}
