import { open } from 'node:fs/promises';
import type { AuditEventName } from '../../audit/index.ts';
import { RequestError } from '../../errors/index.ts';
import { type Params, readForm } from '../checks/parameters.ts';
import type { Endpoint } from '../endpoint.ts';
import { seeOther } from '../http.ts';
import { rotateSigningKeys } from '../keys.ts';
import * as operator from '../operator.ts';
import { type Step, step } from '../pipeline.ts';
import { audit, type Exchange } from '../services.ts';
import { checkCsrf, csrfToken, currentSession, ensureBrowserId } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';
import { type AuditLine, adminPage } from '../views/admin.ts';

interface State extends Exchange {
  subject?: string;
  form?: Params;
}

const PURPOSE = 'admin';
/** How much of the end of the audit file the page reads, and how many records it shows. */
const AUDIT_TAIL_BYTES = 512 * 1024;
const AUDIT_SHOWN = 50;

/** Signed in as a user with the admin role; anyone else is refused (not redirected). */
const adminSignedIn: Step<State> = step('signed in as an admin', async (state) => {
  const session = await currentSession(state);
  if (session === undefined) return seeOther(PATHS.login);
  const user = await state.services.store.getUser(session.subject);
  if (!operator.isAdmin(user)) {
    throw new RequestError('AdminForbidden', 'this page is for users with the admin role');
  }
  state.subject = session.subject;
  return undefined;
});

const SHOW: readonly Step<State>[] = [
  adminSignedIn,
  step('show clients, users, grants, keys and audit records', async (state) => {
    const { store, settings, clients, now } = state.services;
    const at = now();
    const filter = (state.url.searchParams.get('audit') ?? '').slice(0, 200);
    const browser = ensureBrowserId(state, state.responseHeaders);
    return adminPage({
      branding: settings.branding,
      action: PATHS.admin,
      accountPath: PATHS.account,
      csrf: csrfToken(browser, PURPOSE),
      subject: state.subject ?? '',
      clients: await operator.listClients(store, clients.preRegistered(), at),
      users: await operator.listUsers(store, at),
      grants: await operator.listGrants(store, {}, at),
      keys: await store.listSigningKeys(),
      now: at,
      audit:
        settings.auditPath === undefined
          ? undefined
          : await lastAuditRecords(settings.auditPath, filter),
      auditFilter: filter,
      message: doneMessage(state.url.searchParams),
    });
  }),
];

/** What an action did: its audit event, what it acted on, how many grants it revoked. */
interface Done {
  readonly event: AuditEventName;
  readonly id: string;
  readonly count?: number;
  readonly at?: number;
}

type Action = (state: State, target: string) => Promise<Done>;

/**
 * The page says what was done from fixed sentences (the redirect carries the action's name and
 * ids only), so a crafted link cannot put words of its own in front of an admin.
 */
const DONE: Readonly<Record<string, (id: string, count: number, at: number) => string>> = {
  'client-disable': (id, n) => `Client ${id} disabled; ${n} grant(s) revoked.`,
  'client-enable': (id) => `Client ${id} enabled.`,
  'client-delete': (id, n) => `Client ${id} deleted; ${n} grant(s) revoked.`,
  'grant-revoke': (id) => `Grant ${id} revoked.`,
  'user-disable': (id, n) => `User ${id} disabled; ${n} grant(s) revoked.`,
  'user-enable': (id) => `User ${id} enabled.`,
  'keys-rotate': (id, _n, at) =>
    `New signing key ${id} published; it signs from ${new Date(at).toISOString()}.`,
};

function doneMessage(params: URLSearchParams): string | undefined {
  const name = params.get('done') ?? '';
  const say = Object.hasOwn(DONE, name) ? DONE[name] : undefined;
  const id = params.get('id') ?? '';
  if (say === undefined || !/^[\x21-\x7e]{1,200}$/.test(id)) return undefined;
  const number = (name: string) => {
    const value = Number(params.get(name) ?? '0');
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  };
  return say(id, number('n'), number('at'));
}

const ACTIONS: Readonly<Record<string, Action>> = {
  'client-disable': async (state, target) => {
    const { store, clients, now } = state.services;
    const { revokedGrants } = await operator.disableClient(
      store,
      clients.preRegistered(),
      target,
      now(),
    );
    return { event: 'admin.client.disabled', id: target, count: revokedGrants };
  },
  'client-enable': async (state, target) => {
    await operator.enableClient(state.services.store, target);
    return { event: 'admin.client.enabled', id: target };
  },
  'client-delete': async (state, target) => {
    const { store, clients, now } = state.services;
    const { revokedGrants } = await operator.deleteClient(
      store,
      clients.preRegistered(),
      target,
      now(),
    );
    return { event: 'admin.client.deleted', id: target, count: revokedGrants };
  },
  'grant-revoke': async (state, target) => {
    await operator.revokeGrant(state.services.store, target, state.services.now());
    return { event: 'admin.grant.revoked', id: target };
  },
  'user-disable': async (state, target) => {
    if (target === state.subject) {
      throw new RequestError('OAuthInvalidRequest', 'you cannot disable yourself');
    }
    const { revokedGrants } = await operator.disableUser(
      state.services.store,
      target,
      state.services.now(),
    );
    return { event: 'admin.user.disabled', id: target, count: revokedGrants };
  },
  'user-enable': async (state, target) => {
    await operator.enableUser(state.services.store, target, state.services.now());
    return { event: 'admin.user.enabled', id: target };
  },
  'keys-rotate': async (state) => {
    const { settings, store, now } = state.services;
    const result = await rotateSigningKeys(store, {
      alg: settings.signingAlgorithm,
      now: now(),
      accessTokenTtlMs: settings.accessTokenTtlMs,
    });
    return { event: 'admin.key.rotated', id: result.kid, at: result.activatesAt };
  },
};

const ACT: readonly Step<State>[] = [
  adminSignedIn,
  step('read the form', async (state) => {
    state.form = await readForm(state.request, LIMITS.formMaxBytes);
    checkCsrf(state, state.form, PURPOSE);
    return undefined;
  }),
  step('take the action', async (state) => {
    const form = state.form ?? new Map();
    const name = form.get('action') ?? '';
    const target = form.get('target') ?? '';
    // Own keys only: "constructor" or "__proto__" name no action.
    const action = Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
    if (action === undefined || target === '') {
      throw new RequestError('OAuthInvalidRequest', 'unknown admin action');
    }
    const done = await action(state, target);
    const { event } = done;
    const targetIsClient = name.startsWith('client-');
    audit(state, {
      event,
      decision: 'allow',
      subject: state.subject,
      target: done.id,
      ...(targetIsClient ? { client_id: target } : {}),
    });
    const query = new URLSearchParams({ done: name, id: done.id });
    if (done.count !== undefined) query.set('n', String(done.count));
    if (done.at !== undefined) query.set('at', String(done.at));
    return seeOther(`${PATHS.admin}?${query.toString()}`);
  }),
];

/** The last audit records, newest first, optionally only those containing `filter`. */
async function lastAuditRecords(path: string, filter: string): Promise<AuditLine[]> {
  let text: string;
  try {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - AUDIT_TAIL_BYTES);
      const buffer = Buffer.alloc(size - start);
      await file.read(buffer, 0, buffer.length, start);
      text = buffer.toString('utf8');
      // A partial first line (cut by the tail) is dropped.
      if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    } finally {
      await file.close();
    }
  } catch {
    return [];
  }
  const needle = filter.toLowerCase();
  const lines: AuditLine[] = [];
  for (const line of text.split('\n').reverse()) {
    if (line.trim() === '' || (needle && !line.toLowerCase().includes(needle))) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const str = (key: string) => (typeof record[key] === 'string' ? record[key] : undefined);
    lines.push({
      time: (str('time') ?? '').replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
      event: str('event') ?? '',
      decision: str('decision') ?? '',
      subject: str('subject'),
      clientId: str('client_id'),
      detail: [
        str('reason'),
        str('target') && `target ${str('target')}`,
        str('http_method') && str('path') && `${str('http_method')} ${str('path')}`,
        typeof record.status === 'number' ? `status ${record.status}` : undefined,
        str('tool') && `tool ${str('tool')}`,
      ]
        .filter(Boolean)
        .join(' · '),
    });
    if (lines.length >= AUDIT_SHOWN) break;
  }
  return lines;
}

/**
 * GET /oauth/admin: the admin page, for signed-in users with the admin role. POST: one action
 * (disable, enable or delete a client, revoke a grant, disable or enable a user, rotate the
 * signing key), CSRF-protected like every form here, audited, then back to the page (303).
 */
export const adminEndpoint: Endpoint<State> = {
  name: 'admin page',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: (state) => (state.request.method === 'POST' ? ACT : SHOW),
};
