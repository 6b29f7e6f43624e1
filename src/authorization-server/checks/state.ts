import { RequestError } from '../../errors/index.ts';

export const MAX_STATE_LENGTH = 4096;

/** RFC 6749 Appendix A.5: state = 1*VSCHAR (%x20-7E). Echoed byte for byte, so it is bounded. */
export function checkState(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length > MAX_STATE_LENGTH || !/^[\x20-\x7E]+$/.test(value)) {
    throw new RequestError(
      'OAuthInvalidRequest',
      `state must be 1 to ${MAX_STATE_LENGTH} printable ASCII characters`,
    );
  }
  return value;
}
