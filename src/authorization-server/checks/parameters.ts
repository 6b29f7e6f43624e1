import { RequestError } from '../../errors/index.ts';
import { mediaType, readBody } from '../http.ts';

/** Request parameters, each with a single value. */
export type Params = ReadonlyMap<string, string>;

/**
 * RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once." A
 * repeated parameter is refused outright rather than resolved first-wins or last-wins, so two
 * readers of one request can never disagree about what it says.
 */
export function singleValued(search: URLSearchParams): Params {
  const out = new Map<string, string>();
  for (const [name, value] of search) {
    if (out.has(name)) {
      throw new RequestError('OAuthInvalidRequest', `parameter ${name} is repeated`);
    }
    out.set(name, value);
  }
  return out;
}

/** RFC 6749 §4.1.3 / §3.2: form-encoded bodies only, size-capped, no repeated parameters. */
export async function readForm(request: Request, maxBytes: number): Promise<Params> {
  if (mediaType(request) !== 'application/x-www-form-urlencoded') {
    throw new RequestError(
      'OAuthInvalidRequest',
      'the body must be application/x-www-form-urlencoded',
    );
  }
  const body = await readBody(request, maxBytes);
  return singleValued(new URLSearchParams(body.toString('utf8')));
}

/** A parameter that must be present and non-empty. */
export function required(params: Params, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') {
    throw new RequestError('OAuthInvalidRequest', `parameter ${name} is required`);
  }
  return value;
}
