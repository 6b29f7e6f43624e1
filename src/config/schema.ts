import { isIP } from 'node:net';
import { z } from 'zod';
import { parseHostPort } from '../lib/host.ts';

/*
 * The configuration schema: the types, the defaults and the reference documentation
 * (docs/configuration.md is generated from the descriptions below). Rules that relate
 * several keys to each other live in rules.ts.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 9110 §5.6.2 token characters, for header names. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Asymmetric JWS algorithms a resource server may accept (RFC 7518 §3.1, RFC 8037). */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export const MAX_CLOCK_SKEW_SECONDS = 300;

const custom = (message: string, fix: string) => ({ message, params: { fix } });

const envName = (description: string) =>
  z
    .string()
    .regex(ENV_NAME, {
      message: 'must be the name of an environment variable (letters, digits, underscore)',
    })
    .meta({ description });

const scope = z.string().regex(SCOPE_TOKEN, {
  message: 'must be an OAuth scope token (printable ASCII without spaces, quotes or backslashes)',
});

const positiveInt = (description: string, fallback: number) =>
  z.number().int().positive().default(fallback).meta({ description });

const absoluteUrl = (description: string) =>
  z
    .string()
    .refine(
      (value) => URL.canParse(value),
      custom('must be an absolute URL', 'write the full URL, e.g. https://auth.example.com/'),
    )
    .refine(
      (value) => !URL.canParse(value) || ['https:', 'http:'].includes(new URL(value).protocol),
      custom('must be an http(s) URL', 'use an https:// URL'),
    )
    .refine(
      (value) => !value.includes('#'),
      custom('must not contain a fragment', 'remove the #… part'),
    )
    .meta({ description });

const origin = z
  .string()
  .refine(
    (value) => URL.canParse(value) && new URL(value).origin === value.replace(/\/$/, ''),
    custom(
      'must be an origin: scheme, host and optional port, with no path',
      'write it as https://host[:port]',
    ),
  );

const bindAddress = z
  .string()
  .refine(
    (value) => parseHostPort(value) !== undefined,
    custom('must be HOST:PORT', 'for example 127.0.0.1:8080 or [::1]:8080'),
  );

const cidr = z.string().refine(
  (value) => {
    const [address, prefix, ...rest] = value.split('/');
    if (rest.length > 0 || address === undefined) return false;
    const family = isIP(address);
    if (family === 0) return false;
    if (prefix === undefined) return true;
    const bits = Number(prefix);
    return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
  },
  custom('must be an IP address or CIDR block', 'for example 10.0.0.0/8 or 127.0.0.1/32'),
);

/** A normalized absolute request path: the same string is used for routing and for policy. */
const upstreamPath = z
  .string()
  .refine(
    (value) => value.startsWith('/'),
    custom('must be an absolute path', 'start it with /, e.g. /mcp'),
  )
  .refine(
    (value) => !/[?#%\\]/.test(value) && !/\s/.test(value),
    custom(
      'must not contain ?, #, %, backslashes or whitespace',
      'use a plain path such as /mcp/files',
    ),
  )
  .refine(
    (value) => value === '/' || (!value.endsWith('/') && !value.includes('//')),
    custom('must be normalized (no trailing or doubled slashes)', 'write /mcp, not /mcp/ or //mcp'),
  )
  .refine(
    (value) => !value.split('/').some((segment) => segment === '.' || segment === '..'),
    custom('must not contain . or .. segments', 'write the path in its final form'),
  );

const algorithm = z.string().superRefine((value, ctx) => {
  if ((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(value)) return;
  const symmetric = /^HS\d+$/i.test(value);
  ctx.addIssue({
    code: 'custom',
    input: value,
    message:
      value.toLowerCase() === 'none'
        ? '"none" is never accepted (RFC 8725 §3.1)'
        : symmetric
          ? `${value} is symmetric: a resource server that shares the signing secret can forge tokens`
          : `unknown algorithm ${JSON.stringify(value)}`,
    params: { fix: `use asymmetric algorithms: ${ASYMMETRIC_ALGORITHMS.join(', ')}` },
  });
});

const nonNegativeInt = (description: string, fallback: number, max?: number) =>
  (max === undefined ? z.number().int().min(0) : z.number().int().min(0).max(max))
    .default(fallback)
    .meta({ description });

const introspectionSchema = z
  .strictObject({
    url: absoluteUrl('Introspection endpoint (RFC 7662) for opaque tokens.'),
    client_id: z.string().min(1).meta({ description: 'Client id the gateway authenticates as.' }),
    client_secret_env: envName('Environment variable holding the introspection client secret.'),
    cache_ttl_seconds: nonNegativeInt(
      'How long an active answer is reused, in seconds; never past the token exp. At most 60; 0 disables.',
      60,
      60,
    ),
    negative_cache_ttl_seconds: nonNegativeInt(
      'How long a refusal (inactive, wrong audience…) is reused, in seconds. At most 60; 0 disables.',
      5,
      60,
    ),
  })
  .meta({
    description: 'Token introspection, for authorization servers that issue opaque tokens.',
  });

const remoteMcpSchema = z
  .strictObject({
    enabled: z.boolean().default(false).meta({
      description:
        'Serve MCP over HTTP. Also needs safety.remote_mcp_enabled and the --enable-remote-mcp flag.',
    }),
    bind_address: bindAddress
      .default('127.0.0.1:8080')
      .meta({ description: 'HOST:PORT the gateway listens on.' }),
    admin_bind_address: bindAddress.optional().meta({
      description:
        'HOST:PORT of a second listener serving only /metrics, /healthz and /readyz (GET), for Prometheus and orchestrators; keep it on loopback or a private network. Unset: /metrics is served on the main listener only in a loopback-only deployment (loopback bind address and public URL), to clients on this machine that no proxy relays; otherwise nowhere.',
    }),
    public_url: absoluteUrl(
      'Origin clients see. Resource URIs derive from it. Required (https) when the bind address is not loopback; defaults to http://BIND_ADDRESS on loopback.',
    ).optional(),
    resource: absoluteUrl(
      'Resource URI of the default (first) upstream. Default: public_url + the upstream path.',
    ).optional(),
    auth: z.enum(['oauth', 'none']).default('oauth').meta({
      description: 'oauth, or none (no authentication; only with a loopback bind address).',
    }),
    issuer: absoluteUrl('Expected `iss` of access tokens, compared exactly.').optional(),
    jwks_url: absoluteUrl('JWKS endpoint used to verify token signatures.').optional(),
    metadata_url: absoluteUrl(
      'Authorization server metadata (RFC 8414 / OIDC discovery); its jwks_uri is used when jwks_url is not set.',
    ).optional(),
    audiences: z
      .array(z.string().min(1))
      .optional()
      .meta({ description: "Accepted token audiences. Default: every upstream's resource URI." }),
    allowed_scopes: z.array(scope).default([]).meta({
      description: 'Scopes the gateway honours; token scopes outside this list are ignored.',
    }),
    algorithms: z
      .array(algorithm)
      .default([...DEFAULT_ALGORITHMS])
      .meta({
        description: 'Accepted JWS algorithms. Asymmetric only; `none` and HS* are refused.',
      }),
    clock_skew_seconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_CLOCK_SKEW_SECONDS, {
        message: `must be at most ${MAX_CLOCK_SKEW_SECONDS} seconds`,
      })
      .default(60)
      .meta({ description: 'Leeway for exp/nbf/iat, in seconds. At most 300.' }),
    max_token_length: z.number().int().min(256).max(65_536).default(8192).meta({
      description:
        'Longest access token accepted, in characters; longer ones are refused before any decoding.',
    }),
    max_token_lifetime_seconds: z.number().int().positive().optional().meta({
      description:
        'When set, tokens whose exp - iat (or exp - now) exceeds it are refused. Unset: no limit beyond exp.',
    }),
    require_at_jwt_typ: z.boolean().default(false).meta({
      description:
        'Require the JWT header typ at+jwt (RFC 9068 §4). Off by default because major identity providers do not set it; even then a typ other than JWT or at+jwt is refused.',
    }),
    jwks_cache_max_age_seconds: positiveInt(
      'A key set older than this is refetched (in the background; the last good set is kept if that fails).',
      600,
    ),
    jwks_refetch_cooldown_seconds: positiveInt(
      'At most one JWKS fetch per this many seconds when tokens name unknown keys.',
      30,
    ),
    token_cache_max_entries: nonNegativeInt(
      'Verified tokens remembered (LRU, keyed by a SHA-256 of the token). 0 disables the cache.',
      10_000,
    ),
    token_cache_ttl_seconds: nonNegativeInt(
      'How long a verified JWT is remembered, in seconds; never past its exp. 0 disables the cache.',
      300,
    ),
    rate_limit_max_requests: positiveInt(
      'Requests allowed per client address, session and subject in each window (counted in memory, per process).',
      120,
    ),
    rate_limit_window_seconds: positiveInt('Rate-limit window, in seconds.', 60),
    max_connections: positiveInt('Concurrent HTTP connections before new ones get 503.', 64),
    token_id_hmac_secret_env: envName(
      'Environment variable holding the secret (at least 32 bytes) used to HMAC token ids for audit correlation.',
    ).optional(),
    trusted_proxies: z
      .array(cidr)
      .default([])
      .meta({ description: 'Proxies (IP or CIDR) allowed to set X-Forwarded-For.' }),
    allowed_origins: z
      .array(origin)
      .default([])
      .meta({ description: "Origins accepted besides the gateway's own (DNS-rebinding defence)." }),
    introspection: introspectionSchema.optional(),
    max_body_bytes: positiveInt(
      'Largest request body accepted, in bytes; larger ones get 413 (checked on Content-Length before reading, and while reading).',
      1_048_576,
    ),
    max_header_count: positiveInt(
      'Most request header lines accepted, counted on the raw headers; more get 431.',
      100,
    ),
    max_header_bytes: positiveInt(
      'Largest request header block (request line and headers), in bytes; larger ones get 431.',
      16_384,
    ),
    header_timeout_seconds: positiveInt(
      'Time a client has to send the request headers; slower clients get 408 and are disconnected within about twice this.',
      10,
    ),
    request_timeout_seconds: positiveInt(
      'Time a client has to send the whole request (headers and body); at least header_timeout_seconds.',
      30,
    ),
    keep_alive_timeout_seconds: positiveInt(
      'Idle time after which a keep-alive connection is closed.',
      5,
    ),
    shutdown_grace_seconds: positiveInt(
      'On SIGTERM, how long in-flight requests may take to finish before connections are closed.',
      10,
    ),
  })
  .meta({ description: 'The HTTP gateway and how it verifies access tokens.' });

/**
 * Scopes for the JSON-RPC method families other than tools. Fail closed: a family without a
 * scope is refused (403 McpMethodDenied), and so is every method not listed in docs.
 */
const methodScopesSchema = z
  .strictObject({
    resources: scope.optional().meta({
      description:
        'Scope for resources/list, resources/templates/list, resources/read, resources/subscribe and resources/unsubscribe. Default: not set, so they are refused.',
    }),
    prompts: scope.optional().meta({
      description: 'Scope for prompts/list and prompts/get. Default: not set, so they are refused.',
    }),
    completion: scope.optional().meta({
      description: 'Scope for completion/complete. Default: not set, so it is refused.',
    }),
  })
  .meta({
    description:
      'Scopes for the resources, prompts and completion methods. initialize, ping, notifications, logging/setLevel and tools/list need a valid token but no scope; tools/call uses tool_scopes; any other method is refused.',
  });

const upstreamSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, {
        message: 'must be 1-63 letters, digits, - or _, starting with a letter or digit',
      })
      .meta({ description: 'Unique name, used in logs, metrics and audit records.' }),
    path: upstreamPath.meta({
      description: 'Route on the gateway, e.g. /mcp. Absolute, normalized, unique.',
    }),
    command: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Executable of a stdio upstream (exactly one of command or url).' }),
    args: z.array(z.string()).default([]).meta({ description: 'Arguments of the stdio command.' }),
    env: z
      .record(
        z.string().regex(ENV_NAME, { message: 'must be an environment variable name' }),
        z.string(),
      )
      .default({})
      .meta({
        description: "Environment of the child process: only this plus PATH, never the gateway's.",
      }),
    cwd: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Working directory of the child process.' }),
    url: absoluteUrl(
      'Streamable HTTP endpoint of an HTTP upstream (exactly one of command or url).',
    ).optional(),
    headers: z
      .record(z.string().regex(HEADER_NAME, { message: 'must be an HTTP header name' }), z.string())
      .default({})
      .meta({
        description:
          "Headers sent to an HTTP upstream (the gateway's own credentials), ${ENV} expanded.",
      }),
    audit_arguments: z.boolean().default(false).meta({
      description:
        'Put tool-call arguments in audit records (after redact_arguments and token redaction).',
    }),
    redact_arguments: z.array(z.string().min(1)).default([]).meta({
      description:
        'Argument keys (any depth, case-insensitive) whose values are replaced in audit records.',
    }),
    tool_scopes: z.record(z.string().min(1), scope).default({}).meta({
      description:
        'Scope each tool needs. "*" sets a default; without it an unmapped tool is hidden and refused.',
    }),
    method_scopes: methodScopesSchema.prefault({}),
    max_sessions: positiveInt(
      'Concurrent MCP sessions through this upstream (for a stdio upstream, child processes); beyond it a new session gets 503.',
      32,
    ),
    session_idle_timeout_seconds: positiveInt(
      'An MCP session with no request and no open stream for this long is closed (its child process stopped).',
      1800,
    ),
  })
  .meta({ description: 'An MCP server behind the gateway.' });

const preRegisteredClientSchema = z.strictObject({
  client_id: z.string().min(1).meta({ description: 'Client identifier.' }),
  client_name: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Name shown on the consent page.' }),
  redirect_uris: z
    .array(absoluteUrl('Redirect URI.'))
    .min(1)
    .meta({ description: 'Exact redirect URIs (any port for loopback, RFC 8252 §7.3).' }),
  client_secret_env: envName(
    'Environment variable holding the secret of a confidential client.',
  ).optional(),
  grant_types: z
    .array(
      z.enum([
        'authorization_code',
        'refresh_token',
        'client_credentials',
        // RFC 8628 device authorization grant (`portcullis login --device`).
        'urn:ietf:params:oauth:grant-type:device_code',
      ]),
    )
    .default(['authorization_code', 'refresh_token'])
    .meta({ description: 'Grant types the client may use.' }),
  scope: z
    .array(scope)
    .optional()
    .meta({ description: 'Scopes the client may request. Default: allowed_scopes.' }),
});

const authorizationServerSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .meta({ description: 'Run the co-located authorization server.' }),
    issuer: absoluteUrl('Issuer identifier. Default: remote_mcp.public_url.').optional(),
    access_token_ttl_seconds: positiveInt('Access token lifetime, in seconds.', 900),
    refresh_token_ttl_seconds: positiveInt(
      'Refresh token lifetime, in seconds (rotated on every use).',
      2_592_000,
    ),
    refresh_token_max_lifetime_seconds: positiveInt(
      'Absolute lifetime of a refresh-token family, in seconds: no refresh after it, however often rotated.',
      7_776_000,
    ),
    refresh_token_reuse_grace_seconds: z.number().int().min(0).max(60).default(10).meta({
      description:
        'A retry with the just-rotated refresh token within this many seconds gets the same successor pair (if the successor is unused) instead of revoking the family. At most 60.',
    }),
    signing_algorithm: z.enum(['ES256', 'RS256']).default('ES256').meta({
      description:
        'JWS algorithm of issued access tokens (new keys use it; `keys rotate` switches).',
    }),
    dynamic_registration: z.enum(['open', 'token', 'off']).default('open').meta({
      description:
        'Dynamic client registration (RFC 7591): open, token (needs an initial access token) or off.',
    }),
    initial_access_token_env: envName(
      'Environment variable holding the initial access token for dynamic_registration: token.',
    ).optional(),
    client_id_metadata_documents: z.boolean().default(true).meta({
      description: 'Accept https client_id URLs that point at client ID metadata documents.',
    }),
    clients: z
      .array(preRegisteredClientSchema)
      .default([])
      .meta({ description: 'Pre-registered clients.' }),
  })
  .meta({ description: 'The optional co-located authorization server.' });

const storeSchema = z
  .strictObject({
    sqlite: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'SQLite database file (embedded store).' }),
    redis: z
      .string()
      .refine(
        (value) => URL.canParse(value) && ['redis:', 'rediss:'].includes(new URL(value).protocol),
        custom('must be a redis:// or rediss:// URL', 'for example redis://127.0.0.1:6379/0'),
      )
      .optional()
      .meta({
        description:
          'Redis URL (distributed store), redis:// or rediss://. Not available in this version: config check and serve refuse it.',
      }),
  })
  .meta({
    description:
      "Where the co-located authorization server keeps its state: users, clients, consents, sign-in sessions, codes, grants, tokens, signing keys, and its sign-in and registration throttles. The gateway's MCP sessions and rate-limit counters are not here: they are in memory, per process. Exactly one of sqlite or redis.",
  });

const auditSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default('./data/audit.jsonl')
      .meta({ description: 'JSONL audit file (hash-chained).' }),
    stdout: z
      .boolean()
      .default(false)
      .meta({ description: 'Write audit records to standard output instead of the file.' }),
    rotate_bytes: positiveInt('Rotate the audit file at this size, in bytes.', 64 * 1024 * 1024),
    max_queued_records: positiveInt(
      'Records held in memory while the sink is slow or failing; beyond it the sink counts as failed.',
      10_000,
    ),
    on_write_failure: z.enum(['refuse', 'continue']).default('refuse').meta({
      description:
        'refuse: answer 503 while the sink cannot write; continue: serve unaudited and log.',
    }),
  })
  .meta({ description: 'The audit trail.' });

const developmentSchema = z
  .strictObject({
    allow_loopback_urls: z.boolean().default(false).meta({
      description:
        'Let JWKS, metadata, introspection and client metadata URLs point at loopback, plain http too. Local testing only; refused unless the bind address is loopback.',
    }),
  })
  .meta({ description: 'Switches for local development. Never in production.' });

export const configSchema = z
  .strictObject({
    remote_mcp: remoteMcpSchema.prefault({}),
    safety: z
      .strictObject({
        remote_mcp_enabled: z
          .boolean()
          .default(false)
          .meta({ description: 'Second, deliberate switch for the HTTP transport.' }),
      })
      .prefault({})
      .meta({ description: 'Safety switches.' }),
    upstreams: z
      .array(upstreamSchema)
      .min(1, { message: 'must list at least one upstream' })
      .meta({ description: 'The MCP servers behind the gateway.' }),
    authorization_server: authorizationServerSchema.prefault({}),
    store: storeSchema.prefault({ sqlite: './data/portcullis.db' }),
    audit: auditSchema.prefault({}),
    development: developmentSchema.prefault({}),
  })
  .meta({ description: 'Portcullis configuration.' });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type UpstreamConfig = Config['upstreams'][number];
