/**
 * The parts of a Bearer challenge the client acts on (RFC 6750 §3, RFC 9728 §5.1).
 */
export interface BearerChallenge {
  readonly error?: string;
  readonly errorDescription?: string;
  /** Space-delimited scopes the resource asks for. */
  readonly scope?: string;
  /** URL of the protected resource metadata (RFC 9728 §5.1). */
  readonly resourceMetadata?: string;
}

interface Challenge {
  readonly scheme: string;
  readonly params: Map<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a WWW-Authenticate value into challenges (RFC 9110 §11.6.1): several challenges, comma
 * separated; parameters in any order, as tokens or quoted strings; unknown schemes skipped.
 * Lenient on whitespace, strict on structure: anything it cannot read ends the parse.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };
  // Unquoted values should be tokens; servers also send bare URLs and `a:b` scopes, so read
  // leniently up to the next comma or space.
  const readBare = (): string => {
    const start = i;
    while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
    return header.slice(start, i).replace(/=+$/, (pad) => {
      i -= pad.length;
      return '';
    });
  };
  const readQuoted = (): string | undefined => {
    // header[i] is the opening quote
    i++;
    let out = '';
    while (i < n) {
      const c = header[i];
      if (c === '\\' && i + 1 < n) {
        out += header[i + 1];
        i += 2;
      } else if (c === '"') {
        i++;
        return out;
      } else {
        out += c;
        i++;
      }
    }
    return undefined;
  };

  let current: Challenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = readToken();
    if (word === '') break;
    skipSpace();
    if (header[i] === '=') {
      // An auth-param of the current challenge (or token68 padding, which we do not use).
      i++;
      skipSpace();
      let value: string | undefined;
      if (header[i] === '"') value = readQuoted();
      else value = readBare();
      if (value === undefined) break;
      // token68 padding (`Basic dXNlcg==`) is not a parameter; step over it.
      while (header[i] === '=') i++;
      if (current && word !== '') {
        const key = word.toLowerCase();
        if (!current.params.has(key)) current.params.set(key, value);
      }
      continue;
    }
    // A new challenge: `scheme` followed by params (or a token68 we ignore).
    i = start + word.length;
    current = { scheme: word.toLowerCase(), params: new Map() };
    challenges.push(current);
  }
  return challenges;
}

/** The Bearer challenge of a response, if it has one. */
export function bearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  if (!header) return undefined;
  const bearer = parseChallenges(header).find((c) => c.scheme === 'bearer');
  if (!bearer) return undefined;
  const get = (name: string) => {
    const value = bearer.params.get(name);
    return value === undefined || value === '' ? undefined : value;
  };
  const error = get('error');
  const errorDescription = get('error_description');
  const scope = get('scope')?.trim().split(/\s+/).filter(Boolean).join(' ') || undefined;
  const resourceMetadata = get('resource_metadata');
  return {
    ...(error === undefined ? {} : { error }),
    ...(errorDescription === undefined ? {} : { errorDescription }),
    ...(scope === undefined ? {} : { scope }),
    ...(resourceMetadata === undefined ? {} : { resourceMetadata }),
  };
}
