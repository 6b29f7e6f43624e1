import { z } from 'zod';
import { clientServersSchema } from './client-servers.ts';
import { configJsonSchema, type JsonSchemaNode } from './json-schema.ts';
import { MIN_HMAC_SECRET_BYTES, RESERVED_PATHS } from './rules.ts';

/**
 * docs/configuration.md, generated from the schema so the reference cannot drift from the code
 * (`npm run docs` writes it; a test fails when the committed file differs).
 */
export function renderConfigurationReference(): string {
  const root = configJsonSchema();
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'Portcullis reads one YAML file (`portcullis serve --config FILE`, checked by',
    '`portcullis config check --config FILE`). Unknown keys are errors. Every problem is reported',
    'at once, each with its key path and a fix.',
    '',
    '## Environment references and secrets',
    '',
    '- `${NAME}` in any string is replaced by the environment variable `NAME` at load time. A',
    '  missing variable is an error naming the key and the variable, never an empty string.',
    '  `$${` writes a literal `${`. Values that came from the environment are treated as secrets:',
    '  `serve --describe` and error messages show them as `<redacted>`.',
    '- Secrets are never written in the file: keys ending in `_env` name an environment variable',
    '  that must be set when the config is loaded.',
    `- The token-id HMAC secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes.`,
    '',
    '## Fail-closed rules',
    '',
    'Besides the types below, a config is refused when:',
    '',
    '- `remote_mcp.enabled` with `auth: oauth` lacks an issuer (`remote_mcp.issuer` or the',
    '  co-located authorization server), a key source (`jwks_url`, `metadata_url`, `introspection`',
    '  or the co-located authorization server), a non-empty `allowed_scopes`, a non-empty audience',
    "  list (default: every upstream's resource URI) or `token_id_hmac_secret_env`;",
    '- `clock_skew_seconds` exceeds 300; an algorithm is `none` or symmetric (HS*);',
    '- `auth: none` is used with a bind address that is not loopback;',
    '- the bind address is not loopback and `public_url` is not https; `public_url` has a path;',
    '- `issuer`, `jwks_url`, `metadata_url` or the introspection URL is not https, or points at',
    '  loopback without `development.allow_loopback_urls` (itself refused on a non-loopback bind);',
    '- an upstream has both or neither of `command` and `url`; two upstreams share a path or name;',
    '  a path is not absolute and normalized, or is reserved for the gateway',
    `  (${RESERVED_PATHS.map((p) => `\`${p}\``).join(', ')}, and anything under them);`,
    '- a `tool_scopes` or `method_scopes` value (or a pre-registered client scope) is not in',
    '  `allowed_scopes`; `request_timeout_seconds` is below `header_timeout_seconds`;',
    '- a numeric limit is not a positive integer; `store` names both or neither backend, or a',
    '  backend this version cannot open (`redis`, until the Redis store lands);',
    '- `dynamic_registration: token` lacks `initial_access_token_env`.',
    '',
    '## Serving over HTTP',
    '',
    'The HTTP transport starts only when `remote_mcp.enabled: true`, `safety.remote_mcp_enabled:',
    'true` and the `--enable-remote-mcp` flag are all present; otherwise `serve` names what is',
    'missing and binds nothing. Each upstream is served at its `path`; its resource URI is',
    '`public_url` + `path` (the first upstream may set `remote_mcp.resource` instead), and its',
    'protected resource metadata is at `/.well-known/oauth-protected-resource` + `path`',
    '(RFC 9728 §3.1), with the root form for the first upstream as well.',
    '',
    '## Keys',
    '',
  ];
  for (const [name, node] of Object.entries(root.properties ?? {})) {
    renderBlock(out, name, node, (root.required ?? []).includes(name));
  }
  out.push(
    '## Client servers file (`portcullis connect --config FILE`)',
    '',
    'A separate YAML file listing remote MCP servers that `portcullis connect --config` exposes as',
    'one stdio server (tool names become `NAME__TOOL`). `${NAME}` is expanded as above. A server',
    'with `headers` uses them as a static credential; any other server uses OAuth (the `oauth`',
    'block is optional). Servers with headers connect first and concurrently, OAuth servers after.',
    '',
  );
  const clientRoot = z.toJSONSchema(clientServersSchema, { io: 'input' }) as JsonSchemaNode;
  for (const [name, node] of Object.entries(clientRoot.properties ?? {})) {
    renderBlock(out, name, node, (clientRoot.required ?? []).includes(name));
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function renderBlock(out: string[], path: string, node: JsonSchemaNode, required: boolean): void {
  const objectNode = node.properties ? node : node.items?.properties ? node.items : undefined;
  out.push(`### \`${path}\``, '');
  if (node.description) out.push(node.description, '');
  if (node.type === 'array')
    out.push(
      `A list${node.minItems ? ` of at least ${node.minItems}` : ''}; ${required ? 'required' : 'optional'}.`,
      '',
    );
  if (objectNode === undefined) return;
  out.push('| key | type | default | description |', '| --- | --- | --- | --- |');
  const nested: [string, JsonSchemaNode][] = [];
  for (const [key, child] of Object.entries(objectNode.properties ?? {})) {
    const isRequired = (objectNode.required ?? []).includes(key) && child.default === undefined;
    out.push(
      `| \`${key}\` | ${typeOf(child)} | ${isRequired ? '**required**' : formatDefault(child.default)} | ${escapeCell(child.description ?? '')} |`,
    );
    if (child.properties && Object.keys(child.properties).length > 0) nested.push([key, child]);
    else if (child.items?.properties) nested.push([`${key}[]`, child]);
  }
  out.push('');
  const separator = node.type === 'array' ? '[].' : '.';
  for (const [key, child] of nested) {
    renderBlock(
      out,
      `${path}${separator}${key}`,
      child,
      (objectNode.required ?? []).includes(key.replace('[]', '')),
    );
  }
}

function typeOf(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'values'}`;
  if (node.type === 'object') {
    if (node.properties) return 'mapping';
    const valueType =
      typeof node.additionalProperties === 'object' ? typeOf(node.additionalProperties) : 'value';
    return `map of ${valueType}`;
  }
  if (node.type === 'integer') {
    const min =
      node.exclusiveMinimum !== undefined
        ? `> ${node.exclusiveMinimum}`
        : node.minimum !== undefined
          ? `≥ ${node.minimum}`
          : '';
    const max =
      node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER
        ? `≤ ${node.maximum}`
        : '';
    const range = [min, max].filter(Boolean).join(', ');
    return `integer${range ? ` (${range})` : ''}`;
  }
  return Array.isArray(node.type) ? node.type.join(' \\| ') : String(node.type ?? 'value');
}

function formatDefault(value: unknown): string {
  if (value === undefined) return '—';
  return `\`${JSON.stringify(value)}\``;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
