import { spawn as nodeSpawn } from 'node:child_process';
import { ClientError } from '../errors/index.ts';
import type { ClientNotice } from './types.ts';
import { checkOpenableUrl, type UrlPolicy } from './url-safety.ts';

export const OPEN_MODES = ['browser', 'print', 'fetch'] as const;
export type OpenMode = (typeof OPEN_MODES)[number];

export interface OpenContext {
  /** The loopback redirect URI the authorization response must come back to. */
  readonly redirectUri: string;
  readonly policy: UrlPolicy;
}

/** Takes the user (or a fetch) to the authorization URL. Resolves once it is on its way. */
export type AuthorizationOpener = (url: URL, context: OpenContext) => Promise<void>;

/** The subset of child_process.spawn the browser opener uses; injected by tests. */
export type SpawnLike = (
  command: string,
  args: readonly string[],
  options: { shell: false; stdio: 'ignore'; detached: boolean },
) => { on(event: 'error', listener: (error: Error) => void): unknown; unref(): void };

/**
 * The platform's URL opener, started directly (never through a shell), the URL as one argument:
 * `open` on macOS, `rundll32 url.dll,FileProtocolHandler` on Windows (not `cmd /c start`, which
 * is a shell), `xdg-open` elsewhere.
 */
export function platformOpenCommand(platform: NodeJS.Platform): {
  command: string;
  args: string[];
} {
  if (platform === 'darwin') return { command: 'open', args: [] };
  if (platform === 'win32')
    return { command: 'rundll32.exe', args: ['url.dll,FileProtocolHandler'] };
  return { command: 'xdg-open', args: [] };
}

export function browserOpener(options: {
  notice: ClientNotice;
  spawn?: SpawnLike;
  platform?: NodeJS.Platform;
}): AuthorizationOpener {
  const spawn = options.spawn ?? (nodeSpawn as unknown as SpawnLike);
  const { command, args } = platformOpenCommand(options.platform ?? process.platform);
  return async (url, context) => {
    checkOpenableUrl(url, context.policy);
    options.notice(`Opening the browser to sign in. If it does not open, visit:\n  ${url.href}`);
    try {
      const child = spawn(command, [...args, url.href], {
        shell: false,
        stdio: 'ignore',
        detached: true,
      });
      child.on('error', (error) => {
        options.notice(
          `Could not start ${command} (${error.message}); open the URL above by hand.`,
        );
      });
      child.unref();
    } catch (error) {
      options.notice(
        `Could not start ${command} (${(error as Error).message}); open the URL above by hand.`,
      );
    }
  };
}

export function printOpener(options: { notice: ClientNotice }): AuthorizationOpener {
  return async (url, context) => {
    checkOpenableUrl(url, context.policy);
    options.notice(
      `To sign in, open this URL in a browser:\n  ${url.href}\nWaiting for the authorization response on ${context.redirectUri} …`,
    );
  };
}

/**
 * Follows the authorization URL over HTTP, without a browser, for authorization servers that
 * approve without interaction (test servers, conformance suites). Each hop is checked like a URL
 * to open; cookies are not kept; at most `maxHops` redirects. The hop that lands on the redirect
 * URI is delivered to the loopback listener, which checks it like any browser response.
 * This walks what a browser would; it does not apply the SSRF guard's address checks, so it is
 * meant for trusted test servers, not for unattended use against arbitrary servers.
 */
export function fetchOpener(options: {
  notice: ClientNotice;
  fetch?: typeof fetch;
  maxHops?: number;
}): AuthorizationOpener {
  const fetchImpl = options.fetch ?? fetch;
  const maxHops = options.maxHops ?? 5;
  return async (url, context) => {
    const target = new URL(context.redirectUri);
    let current = url;
    for (let hop = 0; hop <= maxHops; hop++) {
      checkOpenableUrl(current, context.policy);
      const response = await fetchImpl(current, {
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      const location = response.headers.get('location');
      if (response.status < 300 || response.status > 399 || location === null) {
        throw new ClientError(
          'ClientAuthorizationFailed',
          `--open fetch: ${current.protocol}//${current.host} answered ${response.status} instead of redirecting back`,
          { fix: 'this authorization server needs a person: use --open browser or --open print' },
        );
      }
      const next = new URL(location, current);
      if (next.origin === target.origin && next.pathname === target.pathname) {
        options.notice('Authorization approved without interaction (--open fetch).');
        const delivered = await fetchImpl(next, { redirect: 'manual' });
        await delivered.body?.cancel();
        return;
      }
      current = next;
    }
    throw new ClientError(
      'ClientAuthorizationFailed',
      `--open fetch: more than ${maxHops} redirects without reaching the redirect URI`,
    );
  };
}

export function createOpener(
  mode: OpenMode,
  options: { notice: ClientNotice; spawn?: SpawnLike },
): AuthorizationOpener {
  if (mode === 'print') return printOpener(options);
  if (mode === 'fetch') return fetchOpener(options);
  return browserOpener(options);
}
