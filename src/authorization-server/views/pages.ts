import { html, type SafeHtml } from '../../lib/html.ts';
import { htmlPage } from '../../lib/html-page.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import type { ConsentRecord } from '../../store/index.ts';

export interface LoginView {
  readonly action: string;
  readonly interactionId: string | undefined;
  readonly csrf: string;
  readonly clientName: string | undefined;
  readonly username?: string;
  readonly error?: string;
  readonly status?: number;
  readonly formTargets?: readonly string[];
}

/** The login page (docs/authorization-server.md): Username, Password and a Sign in button. */
export function loginPage(view: LoginView): HttpAnswer {
  const body = html`<h1>Sign in</h1>
${view.clientName === undefined ? '' : html`<p>to continue to <strong>${view.clientName}</strong></p>`}
${view.error === undefined ? '' : html`<p class="error" role="alert">${view.error}</p>`}
<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
${view.interactionId === undefined ? '' : html`<input type="hidden" name="interaction" value="${view.interactionId}">`}
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${view.username ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`;
  return htmlPage(body, {
    title: 'Sign in',
    ...(view.status === undefined ? {} : { status: view.status }),
    ...(view.formTargets === undefined ? {} : { formTargets: view.formTargets }),
  });
}

export interface ConsentView {
  readonly action: string;
  readonly interactionId: string;
  readonly csrf: string;
  readonly clientName: string | undefined;
  readonly clientId: string;
  /** For a metadata-document client: the host its client_id URL names. */
  readonly clientIdHost: string | undefined;
  readonly redirectHost: string;
  readonly localhostRedirect: boolean;
  readonly resource: string;
  readonly scopes: readonly string[];
  readonly subject: string;
  readonly formTargets: readonly string[];
}

/**
 * The consent page (docs/authorization-server.md; MCP security best practices "Consent UI"): the
 * client's name, the host its redirect URI sends the answer to, the resource and every scope, with
 * Allow and Deny. A localhost redirect gets a warning: any program on the user's machine could be
 * behind it (MCP authorization, "Localhost Redirect URI Risks").
 */
export function consentPage(view: ConsentView): HttpAnswer {
  const name = view.clientName ?? 'An unnamed application';
  const body = html`<h1>Authorize access</h1>
<p><strong>${name}</strong> asks to act on your behalf at <code>${view.resource}</code>.</p>
<dl>
<dt>Application</dt><dd>${name}</dd>
<dt>Client ID</dt><dd><code>${view.clientId}</code>${view.clientIdHost === undefined ? '' : html` (published by <strong>${view.clientIdHost}</strong>)`}</dd>
<dt>Sends you back to</dt><dd><strong>${view.redirectHost}</strong></dd>
<dt>Resource</dt><dd><code>${view.resource}</code></dd>
<dt>Permissions</dt><dd>${
    view.scopes.length === 0
      ? 'none'
      : html`<ul class="scopes">${view.scopes.map((scope) => html`<li><code>${scope}</code></li>`)}</ul>`
  }</dd>
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
<p>Signed in as <strong>${view.subject}</strong>.</p>`;
  return htmlPage(body, {
    title: 'Authorize access',
    formTargets: view.formTargets,
  });
}

export interface AccountView {
  readonly action: string;
  readonly csrf: string;
  readonly subject: string;
  readonly consents: readonly ConsentRecord[];
  readonly message?: string;
}

/** The user's remembered consents, each revocable. */
export function accountPage(view: AccountView): HttpAnswer {
  const rows: SafeHtml[] = view.consents.map(
    (
      consent,
    ) => html`<li><code>${consent.clientId}</code>: ${consent.scopes.join(' ') || 'no scopes'}
<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="client_id" value="${consent.clientId}">
<button type="submit" class="secondary">Revoke</button>
</form></li>`,
  );
  const body = html`<h1>Connected applications</h1>
<p>Signed in as <strong>${view.subject}</strong>.</p>
${view.message === undefined ? '' : html`<p role="status">${view.message}</p>`}
${rows.length === 0 ? html`<p>No application holds your consent.</p>` : html`<ul>${rows}</ul>`}`;
  return htmlPage(body, {
    title: 'Connected applications',
  });
}

export interface DeviceView {
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
  return htmlPage(body, {
    title: 'Connect a device',
    ...(view.status === undefined ? {} : { status: view.status }),
  });
}

/** After the decision on a device request: nothing to send back, the device is polling. */
export function deviceDonePage(approved: boolean): HttpAnswer {
  const body = approved
    ? html`<h1>Device connected</h1>
<p>You can return to your device; it continues on its own.</p>`
    : html`<h1>Request denied</h1>
<p>The device was not given access. You can close this page.</p>`;
  return htmlPage(body, { title: approved ? 'Device connected' : 'Request denied' });
}
