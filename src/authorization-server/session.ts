import { RequestError } from '../errors/index.ts';
import type { SessionRecord } from '../store/index.ts';
import type { Params } from './checks/parameters.ts';
import { cookieScopeFor } from './cookie-scope.ts';
import { hmacSha256, randomToken, safeEqual, sha256 } from './crypto.ts';
import { readCookie, serializeCookie } from './http.ts';
import type { Exchange } from './services.ts';
import { LIMITS } from './settings.ts';

/**
 * Browser state of the login and consent pages, in two HttpOnly, SameSite=Lax cookies
 * (Secure except on plain-http loopback; `__Host-` prefixed, or confined to the server's own
 * paths on a loopback issuer so native clients' loopback callbacks never get them:
 * cookie-scope.ts):
 * - the browser cookie: a random id that binds pending authorization requests to the browser
 *   that started them, and keys the CSRF tokens of its forms;
 * - the session cookie: a random id for a signed-in user, stored only as a hash.
 */
const BROWSER_COOKIE = 'portcullis-browser';
const SESSION_COOKIE = 'portcullis-session';

function names(exchange: Exchange) {
  const { issuer, secureCookies } = exchange.services.settings;
  const { secure, path, prefix } = cookieScopeFor(issuer, secureCookies);
  return {
    secure,
    path,
    browser: `${prefix}${BROWSER_COOKIE}`,
    session: `${prefix}${SESSION_COOKIE}`,
  };
}

export function browserId(exchange: Exchange): string | undefined {
  return readCookie(exchange.request, names(exchange).browser);
}

/** The browser id, creating it (and adding its Set-Cookie to `headers`) when absent. */
export function ensureBrowserId(exchange: Exchange, headers: Headers): string {
  const existing = browserId(exchange);
  if (existing !== undefined) return existing;
  const { browser, secure, path } = names(exchange);
  const created = randomToken(32);
  headers.append('set-cookie', serializeCookie(browser, created, { secure, path }));
  return created;
}

/**
 * The CSRF token of one form: HMAC(browser id, purpose). Only this browser can know it (the
 * browser id is HttpOnly), and it differs per pending request, so a token lifted from another
 * request or another client does not fit.
 */
export function csrfToken(browser: string, purpose: string): string {
  return hmacSha256(browser, `csrf:${purpose}`);
}

export function checkCsrf(exchange: Exchange, form: Params, purpose: string): string {
  const browser = browserId(exchange);
  const sent = form.get('csrf');
  if (
    browser === undefined ||
    sent === undefined ||
    !safeEqual(sent, csrfToken(browser, purpose))
  ) {
    throw new RequestError(
      'FormCsrfInvalid',
      'the form is not valid for this browser; start again',
    );
  }
  return browser;
}

export async function currentSession(exchange: Exchange): Promise<SessionRecord | undefined> {
  const id = readCookie(exchange.request, names(exchange).session);
  if (id === undefined) return undefined;
  const session = await exchange.services.store.getSession(sha256(id));
  if (session === undefined || session.expiresAt <= exchange.services.now()) return undefined;
  const user = await exchange.services.store.getUser(session.subject);
  return user === undefined || user.disabled ? undefined : session;
}

/** Starts a session for `subject` (a fresh id: no fixation), adding its cookie to `headers`. */
export async function startSession(
  exchange: Exchange,
  subject: string,
  headers: Headers,
): Promise<void> {
  const { session, secure, path } = names(exchange);
  const id = randomToken(32);
  const now = exchange.services.now();
  await exchange.services.store.putSession({
    idHash: sha256(id),
    subject,
    createdAt: now,
    expiresAt: now + LIMITS.sessionTtlMs,
  });
  headers.append(
    'set-cookie',
    serializeCookie(session, id, { secure, path, maxAge: Math.floor(LIMITS.sessionTtlMs / 1000) }),
  );
}

/**
 * Ends the browser's session: the record is deleted (the cookie alone no longer signs anyone
 * in) and the cookie is expired. Returns the subject it belonged to, if any.
 */
export async function endSession(
  exchange: Exchange,
  headers: Headers,
): Promise<string | undefined> {
  const { session, secure } = names(exchange);
  const id = readCookie(exchange.request, session);
  if (id === undefined) return undefined;
  const record = await exchange.services.store.getSession(sha256(id));
  await exchange.services.store.deleteSession(sha256(id));
  headers.append(
    'set-cookie',
    serializeCookie(session, 'signed-out-0000000', { secure, maxAge: 0 }),
  );
  return record?.subject;
}
