import { html, type SafeHtml } from '../../lib/html.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import type { GrantListing, SigningKeyRecord } from '../../store/index.ts';
import { neutralizeForDisplay } from '../checks/display-text.ts';
import type { ClientOverview, UserOverview } from '../operator.ts';
import type { Branding } from '../settings.ts';
import { framedPage } from './layout.ts';
import { dateInWords } from './words.ts';

export interface AuditLine {
  readonly time: string;
  readonly event: string;
  readonly decision: string;
  readonly subject: string | undefined;
  readonly clientId: string | undefined;
  readonly detail: string;
}

export interface AdminView {
  readonly branding: Branding;
  readonly action: string;
  readonly accountPath: string;
  readonly csrf: string;
  readonly subject: string;
  readonly clients: readonly ClientOverview[];
  readonly users: readonly UserOverview[];
  readonly grants: readonly GrantListing[];
  readonly keys: readonly SigningKeyRecord[];
  readonly now: number;
  /** Undefined when the audit trail goes to standard output (nothing to read back). */
  readonly audit: readonly AuditLine[] | undefined;
  readonly auditFilter: string;
  readonly message?: string | undefined;
}

/** A one-button form posting an action to the admin endpoint. */
function actionButton(
  view: AdminView,
  action: string,
  target: string,
  label: string,
  name: string,
): SafeHtml {
  return html`<form class="inline" method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="${action}">
<input type="hidden" name="target" value="${target}">
<button type="submit" class="secondary" aria-label="${label} ${name}">${label}</button>
</form>`;
}

function clientRows(view: AdminView): SafeHtml[] {
  return view.clients.map((client) => {
    // A registered client chose its own name (RFC 7591 §2): shown with reordering and invisible
    // characters neutralized, as on the consent page.
    const name = client.name === undefined ? '(no name)' : neutralizeForDisplay(client.name);
    const status = client.disabledAt === undefined ? 'enabled' : 'disabled';
    const actions =
      client.kind === 'pre-registered'
        ? html`<span class="muted">in the config</span>`
        : html`${
            client.disabledAt === undefined
              ? actionButton(view, 'client-disable', client.clientId, 'Disable', name)
              : actionButton(view, 'client-enable', client.clientId, 'Enable', name)
          } ${
            // Only a stored client can be deleted (a metadata-document one in use is not stored).
            client.createdAt === undefined
              ? ''
              : actionButton(view, 'client-delete', client.clientId, 'Delete', name)
          }`;
    return html`<tr>
<td><strong>${name}</strong> <span class="badge ${client.verification === 'unverified' ? 'unverified' : 'verified'}">${client.verification}</span><br><code class="muted">${client.clientId}</code></td>
<td>${client.kind}</td>
<td>${client.redirectUris.map((uri) => html`<div><code>${uri}</code></div>`)}</td>
<td>${dateInWords(client.lastUsedAt)}</td>
<td>${String(client.liveGrants)}</td>
<td>${status}</td>
<td class="actions">${actions}</td>
</tr>`;
  });
}

function userRows(view: AdminView): SafeHtml[] {
  return view.users.map(
    (user) => html`<tr>
<td><strong>${user.username}</strong></td>
<td>${user.roles.length === 0 ? html`<span class="muted">none</span>` : user.roles.join(', ')}</td>
<td>${dateInWords(user.createdAt)}</td>
<td>${String(user.liveGrants)}</td>
<td>${user.disabled ? 'disabled' : 'enabled'}</td>
<td class="actions">${
      user.username === view.subject
        ? html`<span class="muted">you</span>`
        : user.disabled
          ? actionButton(view, 'user-enable', user.username, 'Enable', user.username)
          : actionButton(view, 'user-disable', user.username, 'Disable', user.username)
    }</td>
</tr>`,
  );
}

function grantRows(view: AdminView): SafeHtml[] {
  const names = new Map(
    view.clients.map((c) => [
      c.clientId,
      c.name === undefined ? undefined : neutralizeForDisplay(c.name),
    ]),
  );
  return view.grants.map(
    (grant) => html`<tr>
<td><code>${grant.grantId}</code></td>
<td>${grant.subject || html`<span class="muted">(client itself)</span>`}</td>
<td>${names.get(grant.clientId) ?? ''} <code class="muted">${grant.clientId}</code></td>
<td>${grant.scopes.join(' ') || 'none'}<div class="muted"><code>${grant.resource}</code></div></td>
<td>${dateInWords(grant.createdAt)}</td>
<td>${dateInWords(grant.lastUsedAt)}</td>
<td class="actions">${actionButton(view, 'grant-revoke', grant.grantId, 'Revoke', `grant ${grant.grantId}`)}</td>
</tr>`,
  );
}

function keyRows(view: AdminView): SafeHtml[] {
  return view.keys.map((key) => {
    const state =
      key.activatesAt > view.now
        ? `published, signs from ${dateInWords(key.activatesAt)}`
        : key.retiresAt !== undefined && key.retiresAt <= view.now
          ? `retired, leaves the key set ${dateInWords(key.expiresAt)}`
          : 'signing';
    return html`<tr><td><code>${key.kid}</code></td><td>${key.alg}</td><td>${dateInWords(key.createdAt)}</td><td>${state}</td></tr>`;
  });
}

function auditSection(view: AdminView): SafeHtml {
  if (view.audit === undefined) {
    return html`<p class="muted">The audit trail goes to standard output (audit.stdout); read it where that output is collected.</p>`;
  }
  const rows = view.audit.map(
    (line) =>
      html`<tr><td>${line.time}</td><td><code>${line.event}</code></td><td>${line.decision}</td><td>${line.subject ?? ''}</td><td><code>${line.clientId ?? ''}</code></td><td class="wrap">${line.detail}</td></tr>`,
  );
  return html`<form method="get" action="${view.action}" role="search">
<label for="audit-filter">Show records containing</label>
<input id="audit-filter" name="audit" type="search" value="${view.auditFilter}" placeholder="an event, user, client id or reason">
<button type="submit">Filter</button>
</form>
${
  rows.length === 0
    ? html`<p>No audit records${view.auditFilter ? ' match' : ' yet'}.</p>`
    : html`<table><caption class="muted">Newest first</caption><thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Decision</th><th scope="col">User</th><th scope="col">Client</th><th scope="col">Detail</th></tr></thead><tbody>${rows}</tbody></table>`
}`;
}

function table(caption: string, headings: readonly string[], rows: SafeHtml[], empty: string) {
  if (rows.length === 0) return html`<p>${empty}</p>`;
  return html`<table><caption class="muted">${caption}</caption><thead><tr>${headings.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * The admin page: clients, users, live grants, signing keys and the last audit records, with
 * the actions an operator takes (each a CSRF-protected POST).
 */
export function adminPage(view: AdminView): HttpAnswer {
  const body = html`<h1>Administration</h1>
${view.message === undefined ? '' : html`<p role="status" class="warning">${view.message}</p>`}
<h2 id="clients">Clients</h2>
${table('Configured and registered clients', ['Client', 'Kind', 'Redirect URIs', 'Last used', 'Live grants', 'Status', 'Actions'], clientRows(view), 'No clients.')}
<h2 id="users">Users</h2>
${table('Local users', ['User', 'Roles', 'Created', 'Live grants', 'Status', 'Actions'], userRows(view), 'No users.')}
<h2 id="grants">Live grants</h2>
${table('Grants neither revoked nor expired, newest first', ['Grant', 'User', 'Client', 'Scopes', 'First used', 'Last used', 'Actions'], grantRows(view), 'No live grants.')}
<h2 id="keys">Signing keys</h2>
${table('Keys in the key set', ['Key id', 'Algorithm', 'Created', 'State'], keyRows(view), 'No keys.')}
<form method="post" action="${view.action}">
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="keys-rotate">
<input type="hidden" name="target" value="signing-key">
<button type="submit">Rotate the signing key</button>
</form>
<h2 id="audit">Audit records</h2>
${auditSection(view)}`;
  return framedPage(view.branding, body, {
    title: 'Administration',
    wide: true,
    signedInAs: view.subject,
    links: [{ href: view.accountPath, label: 'Connected applications' }],
  });
}
