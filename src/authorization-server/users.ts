import type { Store, UserRecord } from '../store/index.ts';
import { decoyHash, generatePassword, hashPassword, verifyPassword } from './passwords.ts';

/** Letters, digits and `._@-`, starting with a letter or digit, at most 64 characters. */
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export const ADMIN_USERNAME = 'admin';
export const ADMIN_PASSWORD_ENV = 'PORTCULLIS_ADMIN_PASSWORD';
/** The quickstart's admin user may open the admin page. */
const ADMIN_ROLES = ['admin'] as const;

export function usernameProblem(name: string): string | undefined {
  return USERNAME_PATTERN.test(name)
    ? undefined
    : 'must be 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
}

export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** Creates a local user, or resets the password of an existing one (scrypt-hashed). */
export async function setUserPassword(
  store: Store,
  username: string,
  password: string,
  now: number,
  roles?: readonly string[],
): Promise<{ created: boolean }> {
  const nameProblem = usernameProblem(username);
  if (nameProblem !== undefined) throw new TypeError(`username ${nameProblem}`);
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new TypeError(`password ${problem}`);
  const existing = await store.getUser(username);
  await store.putUser({
    username,
    passwordHash: await hashPassword(password),
    disabled: false,
    // A password reset keeps the roles unless new ones are given.
    roles: [...new Set(roles ?? existing?.roles ?? [])].sort(),
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  });
  return { created: existing === undefined };
}

/**
 * Checks a sign-in. The same scrypt work is done whether the user exists or not, so response
 * time does not tell which usernames exist.
 */
export async function checkLogin(
  store: Store,
  username: string,
  password: string,
): Promise<UserRecord | undefined> {
  const user = usernameProblem(username) === undefined ? await store.getUser(username) : undefined;
  const ok = await verifyPassword(password, user?.passwordHash ?? (await decoyHash()));
  return ok && user !== undefined && !user.disabled ? user : undefined;
}

export interface AdminBootstrap {
  readonly username: string;
  /** The password to print once: set from the environment or generated now; undefined when the admin already existed and nothing changed. */
  readonly password: string | undefined;
  readonly source: 'environment' | 'generated' | 'existing';
}

/**
 * The quickstart's admin user. With PORTCULLIS_ADMIN_PASSWORD set, the admin gets that password
 * (created or reset). Otherwise an admin is created on first start with a random one-time
 * password, returned so it can be printed once; later starts leave it alone.
 */
export async function ensureAdminUser(
  store: Store,
  options: { readonly env: NodeJS.ProcessEnv; readonly now: number },
): Promise<AdminBootstrap> {
  const fromEnv = options.env[ADMIN_PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const existing = await store.getUser(ADMIN_USERNAME);
    if (existing === undefined || !(await verifyPassword(fromEnv, existing.passwordHash))) {
      await setUserPassword(store, ADMIN_USERNAME, fromEnv, options.now, ADMIN_ROLES);
    } else if (!(existing.roles ?? []).includes('admin')) {
      await store.putUser({ ...existing, roles: [...(existing.roles ?? []), 'admin'] });
    }
    return { username: ADMIN_USERNAME, password: fromEnv, source: 'environment' };
  }
  const existing = await store.getUser(ADMIN_USERNAME);
  if (existing !== undefined) {
    // Data from before roles existed: the quickstart's admin is an admin.
    if (!(existing.roles ?? []).includes('admin')) {
      await store.putUser({ ...existing, roles: [...(existing.roles ?? []), 'admin'] });
    }
    return { username: ADMIN_USERNAME, password: undefined, source: 'existing' };
  }
  const password = generatePassword();
  await setUserPassword(store, ADMIN_USERNAME, password, options.now, ADMIN_ROLES);
  return { username: ADMIN_USERNAME, password, source: 'generated' };
}
