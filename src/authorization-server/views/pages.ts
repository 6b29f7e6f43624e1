import { html, type SafeHtml } from '../../lib/html.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import { neutralizeForDisplay } from '../checks/display-text.ts';
import type { Verification } from '../operator.ts';
import type { Branding } from '../settings.ts';
import { framedPage } from './layout.ts';
import { dateInWords, durationInWords } from './words.ts';

/** The application asking, as the pages present it. */
export interface ApplicationView {
  readonly clientId: string;
  /** The name it gave (escaped on output); undefined when it gave none. */
  readonly name: string | undefined;
  readonly verification: Verification;
  /** For a metadata-document client: the host its client_id URL names. */
  readonly clientIdHost?: string | undefined;
}

/** A button to sign in elsewhere (a federated identity provider), listed above the form. */
export interface ProviderButton {
  readonly label: string;
  readonly href: string;
}

export interface LoginView {
  readonly branding: Branding;
  readonly action: string;
  readonly interactionId: string | undefined;
  readonly csrf: string;
  /** The application asking and the resource it wants, when signing in for a request. */
  readonly application?: ApplicationView | undefined;
  readonly resource?: string | undefined;
  readonly providers?: readonly ProviderButton[];
  readonly username?: string;
  readonly error?: string;
  readonly status?: number;
  readonly formTargets?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether the username and password form is offered (default: yes). */
  readonly localLogin?: boolean;
}

/**
 * The name to show for an application. Names are asserted by the client (RFC 7591 §2, client_name)
 * and may carry bidi overrides or invisible characters that make it read as another name; those
 * are neutralized here, where every page gets its names from.
 */
export function applicationName(app: ApplicationView): string {
  return app.name === undefined ? 'An unnamed application' : neutralizeForDisplay(app.name);
}

/** "unverified" beside a name the client asserted about itself (RFC 7591 §5: not vouched for). */
function verificationBadge(app: ApplicationView): SafeHtml {
  if (app.verification === 'unverified') {
    return html`<span class="badge unverified" title="The application chose this name itself when it registered; nobody has checked it.">unverified</span>`;
  }
  if (app.verification === 'domain') {
    return html`<span class="badge verified" title="Published by ${app.clientIdHost ?? 'its domain'}">published by ${app.clientIdHost ?? 'its domain'}</span>`;
  }
  return html`<span class="badge verified" title="Registered by the operator of this server">registered by the operator</span>`;
}

/**
 * The login page (docs/authorization-server.md: Username, Password and a Sign in button). It
 * names the deployment, and for a request the application asking and the resource it wants.
 * Other ways to sign in (identity providers) are a list of buttons above the form.
 */
export function loginPage(view: LoginView): HttpAnswer {
  const { branding } = view;
  const app = view.application;
  const intro =
    app === undefined
      ? html`<p class="lead">Sign in to <strong>${branding.displayName}</strong> to see the applications connected to your account.</p>`
      : html`<p class="lead"><strong>${applicationName(app)}</strong>${verificationBadge(app)} wants to use ${
          view.resource ? html`<code>${view.resource}</code>` : 'this server'
        } on your behalf. Sign in to <strong>${branding.displayName}</strong> to continue.</p>`;
  const providers = view.providers ?? [];
  const body = html`<h1>Sign in</h1>
${intro}
${view.error === undefined ? '' : html`<p class="error" role="alert">${view.error}</p>`}
${
  providers.length === 0
    ? ''
    : html`<ul class="providers">${providers.map((p) => html`<li><a href="${p.href}">${p.label}</a></li>`)}</ul>${
        view.localLogin === false ? '' : html`<p class="or">or with a local account</p>`
      }`
}
${
  view.localLogin === false
    ? ''
    : html`<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
${view.interactionId === undefined ? '' : html`<input type="hidden" name="interaction" value="${view.interactionId}">`}
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${view.username ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`
}`;
  return framedPage(branding, body, {
    title: 'Sign in',
    ...(view.status === undefined ? {} : { status: view.status }),
    ...(view.formTargets === undefined ? {} : { formTargets: view.formTargets }),
    ...(view.headers === undefined ? {} : { headers: view.headers }),
  });
}

export interface Lifetimes {
  readonly accessTokenMs: number;
  readonly refreshTokenMs: number;
  readonly refreshMaxMs: number;
  /** The client may refresh (it has the refresh_token grant). */
  readonly refreshes: boolean;
}

export interface ConsentView {
  readonly branding: Branding;
  readonly action: string;
  readonly accountPath: string;
  readonly interactionId: string;
  readonly csrf: string;
  readonly application: ApplicationView;
  readonly redirectHost: string;
  readonly localhostRedirect: boolean;
  readonly resource: string;
  readonly scopes: readonly string[];
  readonly lifetimes: Lifetimes;
  readonly subject: string;
  readonly formTargets: readonly string[];
}

function scopeItems(scopes: readonly string[], branding: Branding): SafeHtml {
  return html`<ul class="scopes">${scopes.map((scope) => {
    const description = branding.scopeDescriptions[scope];
    return html`<li><code>${scope}</code>${description === undefined ? '' : html`: ${description}`}</li>`;
  })}</ul>`;
}

function lifetimeSentence(lifetimes: Lifetimes): SafeHtml {
  const access = durationInWords(lifetimes.accessTokenMs);
  if (!lifetimes.refreshes) {
    return html`Each access lasts <strong>${access}</strong>; after that the application must ask you again.`;
  }
  return html`Each access lasts <strong>${access}</strong>, and the application stays signed in: it may renew access without asking you for up to <strong>${durationInWords(lifetimes.refreshTokenMs)}</strong> after its last use, and for at most <strong>${durationInWords(lifetimes.refreshMaxMs)}</strong> in all.`;
}

/**
 * The consent page (docs/authorization-server.md; MCP security best practices "Consent UI"): the
 * client's name (marked unverified when it asserted it itself), the host its redirect URI sends
 * the answer to as the thing to check, the resource, every scope with its description, how long
 * access lasts, with Allow and Deny. A localhost redirect gets a warning: any program on the user's machine
 * could be behind it (MCP authorization, "Localhost Redirect URI Risks").
 */
export function consentPage(view: ConsentView): HttpAnswer {
  const { branding, application: app } = view;
  const name = applicationName(app);
  const body = html`<h1>Allow access?</h1>
<p class="lead"><strong>${name}</strong>${verificationBadge(app)} asks to act on your behalf at <code>${view.resource}</code>.</p>
${
  app.verification === 'unverified'
    ? html`<p class="warning"><strong>Check the address below.</strong> This application registered itself and named itself; the name proves nothing. What identifies it is where it sends you back to: <strong>${view.redirectHost}</strong>.</p>`
    : ''
}
<dl>
<dt>Application</dt><dd>${name}${verificationBadge(app)}</dd>
<dt>Client ID</dt><dd><code>${app.clientId}</code>${app.clientIdHost === undefined ? '' : html` (published by <strong>${app.clientIdHost}</strong>)`}</dd>
<dt>Sends you back to</dt><dd><strong>${view.redirectHost}</strong></dd>
<dt>Resource</dt><dd><code>${view.resource}</code></dd>
<dt>Permissions</dt><dd>${view.scopes.length === 0 ? 'none' : scopeItems(view.scopes, branding)}</dd>
<dt>How long</dt><dd>${lifetimeSentence(view.lifetimes)}</dd>
</dl>
${
  view.localhostRedirect
    ? html`<p class="warning" role="alert"><strong>Warning:</strong> this application receives the answer on <strong>${view.redirectHost}</strong>, a program on your own computer. Allow only if you started this sign-in yourself, from an application you trust.</p>`
    : ''
}
<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="interaction" value="${view.interactionId}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
<p class="muted">You can withdraw access at any time on <a href="${view.accountPath}">your account page</a>.</p>`;
  return framedPage(branding, body, {
    title: 'Allow access?',
    formTargets: view.formTargets,
    signedInAs: view.subject,
    links: [{ href: view.accountPath, label: 'Connected applications' }],
  });
}

/** One application holding the user's consent or a live grant. */
export interface AccountEntry {
  readonly application: ApplicationView;
  readonly scopes: readonly string[];
  readonly resources: readonly string[];
  /** When access was first granted; last time it got a token. */
  readonly firstUsedAt: number | undefined;
  readonly lastUsedAt: number | undefined;
  /** Live grants (token families) it holds. */
  readonly liveGrants: number;
}

export interface AccountView {
  readonly branding: Branding;
  readonly action: string;
  /** Where the sign-out button posts (with the same CSRF token). */
  readonly logoutAction?: string;
  readonly csrf: string;
  readonly subject: string;
  readonly entries: readonly AccountEntry[];
  readonly message?: string;
  readonly adminPath?: string | undefined;
}

/** The user's connected applications, each revocable. */
export function accountPage(view: AccountView): HttpAnswer {
  const { branding } = view;
  const rows: SafeHtml[] = view.entries.map((entry) => {
    const name = applicationName(entry.application);
    return html`<tr>
<td><strong>${name}</strong>${verificationBadge(entry.application)}<br><span class="muted"><code>${entry.application.clientId}</code></span></td>
<td>${entry.scopes.length === 0 ? 'none' : scopeItems(entry.scopes, branding)}${entry.resources.map((r) => html`<div class="muted">at <code>${r}</code></div>`)}</td>
<td>${dateInWords(entry.firstUsedAt)}</td>
<td>${dateInWords(entry.lastUsedAt)}</td>
<td class="actions"><form class="inline" method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="client_id" value="${entry.application.clientId}">
<button type="submit" class="secondary" aria-label="Revoke access of ${name}">Revoke</button>
</form></td>
</tr>`;
  });
  const body = html`<h1>Connected applications</h1>
<p>Applications that may act on your behalf at ${branding.displayName}. Revoking one ends its access at once; it must ask you again to come back.</p>
${view.message === undefined ? '' : html`<p role="status">${view.message}</p>`}
${
  rows.length === 0
    ? html`<p>No application holds your consent.</p>`
    : html`<table><caption class="muted">Applications with access</caption><thead><tr><th scope="col">Application</th><th scope="col">Permissions</th><th scope="col">First used</th><th scope="col">Last used</th><th scope="col"><span class="muted">Action</span></th></tr></thead><tbody>${rows}</tbody></table>`
}
${
  view.logoutAction === undefined
    ? ''
    : html`<form method="post" action="${view.logoutAction}">
<input type="hidden" name="csrf" value="${view.csrf}">
<button type="submit" class="secondary">Sign out</button>
</form>`
}`;
  return framedPage(branding, body, {
    title: 'Connected applications',
    wide: true,
    signedInAs: view.subject,
    links: view.adminPath === undefined ? [] : [{ href: view.adminPath, label: 'Admin' }],
  });
}

export interface DeviceView {
  readonly branding: Branding;
  readonly action: string;
  readonly csrf: string;
  /** Prefilled from `verification_uri_complete`. */
  readonly userCode?: string;
  readonly error?: string;
  readonly status?: number;
}

/**
 * The page where a person enters the code their device shows (RFC 8628 §3.3). Entering it only
 * names the request: sign-in and consent follow on the usual pages.
 */
export function devicePage(view: DeviceView): HttpAnswer {
  const body = html`<h1>Connect a device</h1>
<p>Enter the code shown on the device or application you are signing in to.</p>
${view.error === undefined ? '' : html`<p class="error" role="alert">${view.error}</p>`}
<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus value="${view.userCode ?? ''}">
<button type="submit">Continue</button>
</form>
<p>Only enter a code you got from a device you are setting up yourself.</p>`;
  return framedPage(view.branding, body, {
    title: 'Connect a device',
    ...(view.status === undefined ? {} : { status: view.status }),
  });
}

/**
 * After the decision on a device request: nothing to send back, the device is polling. The
 * "done" page links the account page, where the access can be seen and revoked later.
 */
export function deviceDonePage(
  branding: Branding,
  approved: boolean,
  view: { readonly accountPath: string; readonly subject: string },
): HttpAnswer {
  const body = approved
    ? html`<h1>Device connected</h1>
<p>You can return to your device; it continues on its own.</p>
<p>You can see or revoke its access at any time on <a href="${view.accountPath}">your account page</a>.</p>`
    : html`<h1>Request denied</h1>
<p>The device was not given access. You can close this page.</p>`;
  return framedPage(branding, body, {
    title: approved ? 'Device connected' : 'Request denied',
    signedInAs: view.subject,
    links: [{ href: view.accountPath, label: 'Connected applications' }],
  });
}
