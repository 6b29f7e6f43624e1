/**
 * Characters that make a name shown to a person say something other than what it is:
 * bidirectional overrides, embeddings and isolates that reorder text (Unicode UAX #9; the
 * "Trojan Source" class, CVE-2021-42574), zero-width and other format characters, control
 * characters, line and paragraph separators, spaces other than U+0020, variation selectors,
 * and the fillers and blanks that render as nothing (Hangul fillers, the braille blank).
 */
const DECEPTIVE =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u115F\u1160\u3164\uFFA0\u2800]|[\uFE00-\uFE0F]|\u034F|[\u180B-\u180F]|[\u{E0100}-\u{E01EF}]/u;
const DECEPTIVE_ALL = new RegExp(DECEPTIVE.source, 'gu');

/** True when `text` holds a character that hides or reorders what a person reads. */
export function hasDeceptiveCharacters(text: string): boolean {
  return DECEPTIVE.test(text);
}

/** For display of names that were not checked at registration: each such character becomes U+FFFD. */
export function neutralizeForDisplay(text: string): string {
  return text.replace(DECEPTIVE_ALL, '\uFFFD');
}
