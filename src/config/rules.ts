import type { ConfigIssue } from '../errors/index.ts';
import { isLoopbackHost } from '../lib/host.ts';
import type { Derived } from './derive.ts';
import type { Config } from './schema.ts';
import { unavailableStoreBackends } from './store-backends.ts';

/** The HMAC key for token ids must carry at least 256 bits (RFC 2104 §3: key ≥ hash output). */
export const MIN_HMAC_SECRET_BYTES = 32;

/** Paths the gateway serves itself; an upstream may not take them. */
export const RESERVED_PATHS = ['/', '/.well-known', '/healthz', '/readyz', '/metrics', '/oauth'];

/** Secret values read from the environment. Never logged, described or put in messages. */
export interface Secrets {
  readonly tokenIdHmacSecret: Buffer | undefined;
  readonly introspectionClientSecret: string | undefined;
  readonly initialAccessToken: string | undefined;
  /** By client_id, for pre-registered confidential clients. */
  readonly clientSecrets: Readonly<Record<string, string>>;
}

export interface RuleResult {
  readonly issues: ConfigIssue[];
  readonly secrets: Secrets;
}

interface RuleContext {
  readonly config: Config;
  readonly derived: Derived;
  readonly add: (path: string, message: string, fix: string) => void;
}

type Rule = (context: RuleContext) => void;

/**
 * Fail-closed rules that relate several keys. Each is a small named check with its own message
 * and fix; all run, so every problem is reported at once.
 */
export function checkRules(config: Config, derived: Derived, env: NodeJS.ProcessEnv): RuleResult {
  const issues: ConfigIssue[] = [];
  const context: RuleContext = {
    config,
    derived,
    add: (path, message, fix) => issues.push({ path, message, fix }),
  };
  const secrets = readSecrets(context, env);
  for (const rule of RULES) rule(context);
  return { issues, secrets };
}

/** Every *_env key must name a variable that is set (fail closed: never an empty secret). */
function readSecrets({ config, add }: RuleContext, env: NodeJS.ProcessEnv): Secrets {
  const rm = config.remote_mcp;
  const as = config.authorization_server;
  const readEnv = (path: string, name: string | undefined): string | undefined => {
    if (name === undefined) return undefined;
    const value = env[name];
    if (value === undefined || value === '') {
      add(
        path,
        `names environment variable ${name}, which is not set`,
        `export ${name}=… before starting`,
      );
      return undefined;
    }
    return value;
  };

  const hmacText = readEnv('remote_mcp.token_id_hmac_secret_env', rm.token_id_hmac_secret_env);
  const tokenIdHmacSecret = hmacText === undefined ? undefined : Buffer.from(hmacText, 'utf8');
  if (tokenIdHmacSecret !== undefined && tokenIdHmacSecret.length < MIN_HMAC_SECRET_BYTES) {
    add(
      'remote_mcp.token_id_hmac_secret_env',
      `the secret in ${rm.token_id_hmac_secret_env} is ${tokenIdHmacSecret.length} bytes; it must be at least ${MIN_HMAC_SECRET_BYTES}`,
      'generate one with: openssl rand -base64 48',
    );
  }
  const clientSecrets: Record<string, string> = {};
  as.clients.forEach((client, index) => {
    const path = `authorization_server.clients[${index}].client_secret_env`;
    const secret = readEnv(path, client.client_secret_env);
    if (secret !== undefined) clientSecrets[client.client_id] = secret;
  });
  return Object.freeze({
    tokenIdHmacSecret,
    introspectionClientSecret: readEnv(
      'remote_mcp.introspection.client_secret_env',
      rm.introspection?.client_secret_env,
    ),
    initialAccessToken: readEnv(
      'authorization_server.initial_access_token_env',
      as.initial_access_token_env,
    ),
    clientSecrets: Object.freeze(clientSecrets),
  });
}

const authNoneOnlyOnLoopback: Rule = ({ config, derived, add }) => {
  if (config.remote_mcp.auth === 'none' && !derived.bind.loopback) {
    add(
      'remote_mcp.auth',
      `"none" disables authentication, which is allowed only on a loopback bind address (found ${config.remote_mcp.bind_address})`,
      'use auth: oauth, or bind to 127.0.0.1',
    );
  }
};

const adminListenerIsSeparate: Rule = ({ config, derived, add }) => {
  const { admin, bind } = derived;
  if (admin === undefined || admin.port === 0) return;
  if (
    admin.port === bind.port &&
    (admin.host === bind.host || isWildcard(admin.host) || isWildcard(bind.host))
  ) {
    add(
      'remote_mcp.admin_bind_address',
      `must not be the main listener's address (${config.remote_mcp.bind_address})`,
      'use another port, e.g. 127.0.0.1:9464',
    );
  }
};

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

const publicBindNeedsHttpsPublicUrl: Rule = ({ config, derived, add }) => {
  const { public_url: publicUrl, bind_address: bind } = config.remote_mcp;
  if (derived.bind.loopback) return;
  if (publicUrl === undefined || new URL(publicUrl).protocol !== 'https:') {
    add(
      'remote_mcp.public_url',
      `bind address ${bind} is not loopback, so an https public_url is required (found ${publicUrl ?? 'nothing'})`,
      'set remote_mcp.public_url to the https origin clients use, e.g. https://gateway.example.com',
    );
  }
};

const publicUrlIsAnOrigin: Rule = ({ config, add }) => {
  if (config.remote_mcp.public_url === undefined) return;
  const url = new URL(config.remote_mcp.public_url);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    add(
      'remote_mcp.public_url',
      `must be https unless its host is loopback (found ${url.origin})`,
      'use https://',
    );
  }
  if (url.pathname !== '/' || url.search) {
    add(
      'remote_mcp.public_url',
      `must be an origin without path or query (found path ${url.pathname})`,
      'give only scheme, host and port; set each upstream route with upstreams[].path',
    );
  }
};

const resourceOnPublicOrigin: Rule = ({ config, derived, add }) => {
  const { resource } = config.remote_mcp;
  if (resource === undefined || derived.publicUrl === undefined) return;
  if (new URL(resource).origin !== derived.publicUrl) {
    add(
      'remote_mcp.resource',
      `must be on the gateway's public origin ${derived.publicUrl}, where its metadata is served`,
      `use ${derived.publicUrl}${config.upstreams[0]?.path ?? '/mcp'}`,
    );
  }
};

const developmentSwitchOnlyOnLoopback: Rule = ({ config, derived, add }) => {
  if (config.development.allow_loopback_urls && !derived.bind.loopback) {
    add(
      'development.allow_loopback_urls',
      `is for local testing and is refused with a non-loopback bind address (found ${config.remote_mcp.bind_address})`,
      'remove it, or bind to 127.0.0.1',
    );
  }
};

/** Outbound URLs go through the SSRF guard: https and public hosts, unless the development switch. */
const outboundUrlsArePublicHttps: Rule = ({ config, add }) => {
  const rm = config.remote_mcp;
  const outbound: [string, string | undefined][] = [
    ['remote_mcp.issuer', rm.issuer],
    ['remote_mcp.jwks_url', rm.jwks_url],
    ['remote_mcp.metadata_url', rm.metadata_url],
    ['remote_mcp.introspection.url', rm.introspection?.url],
  ];
  for (const [path, value] of outbound) {
    if (value === undefined) continue;
    const url = new URL(value);
    const loopback = isLoopbackHost(url.hostname);
    if (loopback && !config.development.allow_loopback_urls) {
      add(
        path,
        `points at loopback (${url.host}), which outbound fetches refuse`,
        'use the public https URL, or for local testing set development.allow_loopback_urls: true',
      );
    } else if (url.protocol !== 'https:' && !loopback) {
      add(path, `must be https (found ${url.protocol}//)`, 'use the https:// URL');
    }
  }
};

/** Fail closed: an enabled gateway must have everything token verification needs. */
const enabledGatewayCanVerifyTokens: Rule = ({ config, derived, add }) => {
  const rm = config.remote_mcp;
  if (!rm.enabled || rm.auth !== 'oauth') return;
  if (derived.issuer === undefined) {
    add(
      'remote_mcp.issuer',
      'is required when remote_mcp.enabled is true',
      'set it to the authorization server issuer, or enable authorization_server',
    );
  }
  const hasKeySource =
    rm.jwks_url !== undefined ||
    rm.metadata_url !== undefined ||
    rm.introspection !== undefined ||
    config.authorization_server.enabled;
  if (!hasKeySource) {
    add(
      'remote_mcp.jwks_url',
      'no key source: tokens could not be verified',
      'set remote_mcp.jwks_url or remote_mcp.metadata_url (or introspection for opaque tokens), or enable authorization_server',
    );
  }
  if (rm.allowed_scopes.length === 0) {
    add(
      'remote_mcp.allowed_scopes',
      'must not be empty when remote_mcp.enabled is true',
      'list the scopes the gateway honours, e.g. [files:read]',
    );
  }
  if (derived.audiences.length === 0) {
    add(
      'remote_mcp.audiences',
      'must not be empty when remote_mcp.enabled is true',
      'list the accepted audiences, or configure upstreams to derive them from',
    );
  }
  if (rm.token_id_hmac_secret_env === undefined) {
    add(
      'remote_mcp.token_id_hmac_secret_env',
      'is required when remote_mcp.enabled is true (token ids in the audit log are HMACed)',
      'name an environment variable holding at least 32 random bytes',
    );
  }
};

const explicitAudiencesNotEmpty: Rule = ({ config, add }) => {
  const { audiences, enabled } = config.remote_mcp;
  // When enabled, enabledGatewayCanVerifyTokens reports the same problem.
  if (!enabled && audiences !== undefined && audiences.length === 0) {
    add(
      'remote_mcp.audiences',
      'must not be empty',
      "remove the key to accept every upstream's resource URI, or list the accepted audiences",
    );
  }
};

const upstreamHasOneTarget: Rule = ({ config, add }) => {
  config.upstreams.forEach((upstream, index) => {
    const at = `upstreams[${index}]`;
    const hasCommand = upstream.command !== undefined;
    const hasUrl = upstream.url !== undefined;
    if (hasCommand === hasUrl) {
      add(
        at,
        hasCommand ? 'has both command and url' : 'has neither command nor url',
        'give exactly one: command (stdio upstream) or url (Streamable HTTP upstream)',
      );
    }
    if (hasCommand && Object.keys(upstream.headers).length > 0) {
      add(
        `${at}.headers`,
        'applies only to url upstreams',
        'remove it, or use env for a stdio upstream',
      );
    }
    const stdioOnly = upstream.args.length > 0 || Object.keys(upstream.env).length > 0;
    if (hasUrl && (stdioOnly || upstream.cwd !== undefined)) {
      add(at, 'args, env and cwd apply only to command upstreams', 'remove them');
    }
  });
};

const upstreamPathsAndNamesUnique: Rule = ({ config, add }) => {
  const seenPaths = new Map<string, number>();
  const seenNames = new Map<string, number>();
  config.upstreams.forEach((upstream, index) => {
    const at = `upstreams[${index}]`;
    const previousPath = seenPaths.get(upstream.path);
    if (previousPath === undefined) seenPaths.set(upstream.path, index);
    else {
      add(
        `${at}.path`,
        `${upstream.path} is already used by upstreams[${previousPath}]`,
        'give each upstream its own path',
      );
    }
    const previousName = seenNames.get(upstream.name);
    if (previousName === undefined) seenNames.set(upstream.name, index);
    else {
      add(
        `${at}.name`,
        `"${upstream.name}" is already used by upstreams[${previousName}]`,
        'give each upstream its own name',
      );
    }
    const reserved = RESERVED_PATHS.find(
      (r) => upstream.path === r || (r !== '/' && upstream.path.startsWith(`${r}/`)),
    );
    if (reserved !== undefined) {
      add(
        `${at}.path`,
        `${upstream.path} is reserved for the gateway's own endpoints`,
        'use a path such as /mcp or /mcp/files',
      );
    }
  });
};

const toolScopesAreAllowed: Rule = ({ config, add }) => {
  const allowed = config.remote_mcp.allowed_scopes;
  config.upstreams.forEach((upstream, index) => {
    for (const [tool, scope] of Object.entries(upstream.tool_scopes)) {
      if (!allowed.includes(scope)) {
        add(
          `upstreams[${index}].tool_scopes.${tool}`,
          `scope "${scope}" is not in remote_mcp.allowed_scopes`,
          'add it to remote_mcp.allowed_scopes, or map the tool to a listed scope',
        );
      }
    }
  });
};

const methodScopesAreAllowed: Rule = ({ config, add }) => {
  const allowed = config.remote_mcp.allowed_scopes;
  config.upstreams.forEach((upstream, index) => {
    for (const [family, scope] of Object.entries(upstream.method_scopes)) {
      if (scope !== undefined && !allowed.includes(scope)) {
        add(
          `upstreams[${index}].method_scopes.${family}`,
          `scope "${scope}" is not in remote_mcp.allowed_scopes`,
          'add it to remote_mcp.allowed_scopes, or use a listed scope',
        );
      }
    }
  });
};

/** Node measures the whole request against requestTimeout, headers included. */
const requestTimeoutCoversHeaders: Rule = ({ config, add }) => {
  const rm = config.remote_mcp;
  if (rm.request_timeout_seconds < rm.header_timeout_seconds) {
    add(
      'remote_mcp.request_timeout_seconds',
      `must be at least header_timeout_seconds (${rm.header_timeout_seconds})`,
      `set it to ${rm.header_timeout_seconds} or more`,
    );
  }
};

const storeHasOneBackend: Rule = ({ config, add }) => {
  const count = [config.store.sqlite, config.store.redis].filter((v) => v !== undefined).length;
  if (count !== 1) {
    add(
      'store',
      `needs exactly one of sqlite or redis (found ${count})`,
      'keep one of the two keys',
    );
  }
};

const storeBackendIsAvailable: Rule = ({ config, add }) => {
  for (const issue of unavailableStoreBackends(config.store)) {
    add(issue.path, issue.message, issue.fix ?? '');
  }
};

const authorizationServerSettings: Rule = ({ config, derived, add }) => {
  const as = config.authorization_server;
  if (as.enabled && derived.authorizationServerIssuer === undefined) {
    add(
      'authorization_server.issuer',
      'is required when there is no public_url to default to',
      'set remote_mcp.public_url or authorization_server.issuer',
    );
  }
  if (as.issuer !== undefined) {
    const url = new URL(as.issuer);
    // RFC 8414 §2: an https URL without query or fragment; plain http only on loopback.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      add(
        'authorization_server.issuer',
        `must be https unless its host is loopback (found ${url.origin})`,
        'use https://',
      );
    }
    if (url.search !== '') {
      add(
        'authorization_server.issuer',
        'must not have a query (RFC 8414 §2)',
        'remove the ?… part',
      );
    }
  }
  if (as.dynamic_registration === 'token' && as.initial_access_token_env === undefined) {
    add(
      'authorization_server.initial_access_token_env',
      'is required when dynamic_registration is "token"',
      'name an environment variable holding the initial access token, or choose open or off',
    );
  }
};

const preRegisteredClientsValid: Rule = ({ config, add }) => {
  const allowed = config.remote_mcp.allowed_scopes;
  const ids = new Set<string>();
  config.authorization_server.clients.forEach((client, index) => {
    const at = `authorization_server.clients[${index}]`;
    if (ids.has(client.client_id)) {
      add(
        `${at}.client_id`,
        `"${client.client_id}" is listed twice`,
        'give each client its own id',
      );
    }
    ids.add(client.client_id);
    for (const scope of client.scope ?? []) {
      if (!allowed.includes(scope)) {
        add(
          `${at}.scope`,
          `scope "${scope}" is not in remote_mcp.allowed_scopes`,
          'add it there or remove it here',
        );
      }
    }
    if (client.grant_types.includes('client_credentials') && !client.client_secret_env) {
      add(
        `${at}.client_secret_env`,
        'client_credentials needs a confidential client',
        'name the environment variable holding its secret',
      );
    }
    client.redirect_uris.forEach((uri, uriIndex) => {
      const url = new URL(uri);
      if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
        add(
          `${at}.redirect_uris[${uriIndex}]`,
          'plain http is allowed only for loopback redirect URIs (RFC 8252 §7.3)',
          'use https://',
        );
      }
    });
  });
};

const RULES: readonly Rule[] = [
  authNoneOnlyOnLoopback,
  publicBindNeedsHttpsPublicUrl,
  adminListenerIsSeparate,
  publicUrlIsAnOrigin,
  resourceOnPublicOrigin,
  developmentSwitchOnlyOnLoopback,
  outboundUrlsArePublicHttps,
  enabledGatewayCanVerifyTokens,
  explicitAudiencesNotEmpty,
  upstreamHasOneTarget,
  upstreamPathsAndNamesUnique,
  toolScopesAreAllowed,
  methodScopesAreAllowed,
  requestTimeoutCoversHeaders,
  storeHasOneBackend,
  storeBackendIsAvailable,
  authorizationServerSettings,
  preRegisteredClientsValid,
];
