import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors/index.ts';
import { expandEnv } from './env.ts';
import { formatKeyPath } from './key-path.ts';

/*
 * The servers file of `portcullis connect --config FILE`: several remote MCP servers exposed as
 * one stdio server. Its own small schema (the gateway config is a different file); the
 * descriptions below are rendered into docs/configuration.md.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 9110 §5.6.2 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Server names prefix tool names (`name__tool`); no underscores, so the split is unambiguous. */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol), {
    message: 'must be an absolute http(s) URL',
    params: { fix: 'write the full MCP endpoint URL, e.g. https://mcp.example.com/mcp' },
  });

const oauthSchema = z
  .strictObject({
    scope: z.string().min(1).optional().meta({
      description:
        'Scopes to request (space-delimited). Default: the challenge, else the metadata.',
    }),
    client_id: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'A client pre-registered at the authorization server.' }),
    client_secret_env: z
      .string()
      .regex(ENV_NAME, { message: 'must be the name of an environment variable' })
      .optional()
      .meta({ description: "Environment variable holding the pre-registered client's secret." }),
    client_metadata_url: httpUrl.optional().meta({
      description: "This client's metadata document URL (https), used as its client ID.",
    }),
    callback_port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .meta({ description: 'Port of the loopback redirect URI (default: ephemeral).' }),
    resource_parameter: z.boolean().optional().meta({
      description:
        'false: leave the RFC 8707 resource parameter out, for authorization servers that reject it (Microsoft Entra ID, AADSTS9010010). The token is then not bound to this server; see docs/client.md. Default true.',
    }),
  })
  .meta({ description: 'OAuth options for this server (OAuth is the default without headers).' });

const serverSchema = z
  .strictObject({
    name: z
      .string()
      .regex(SERVER_NAME, {
        message: 'must be 1-32 letters, digits or dashes, starting with a letter or digit',
      })
      .meta({ description: 'Short name; tool names are exposed as NAME__TOOL.' }),
    url: httpUrl.meta({ description: 'The remote MCP endpoint (Streamable HTTP).' }),
    headers: z
      .record(z.string().regex(HEADER_NAME, { message: 'must be an HTTP header name' }), z.string())
      .optional()
      .meta({
        description:
          'Static headers sent on every request (values may use ${ENV}); exclusive with oauth.',
      }),
    oauth: oauthSchema.optional(),
    protocol: z.enum(['auto', '2026-07-28', '2025-11-25']).optional().meta({
      description:
        'Protocol era to speak to this server: auto (default; server/discover, falling back to initialize for a 2025 server), 2026-07-28 or 2025-11-25.',
    }),
  })
  .refine((server) => !(server.headers && server.oauth), {
    message: 'headers and oauth are mutually exclusive',
    params: { fix: 'keep headers (a static credential) or oauth, not both' },
  });

export const clientServersSchema = z
  .strictObject({
    servers: z
      .array(serverSchema)
      .min(1)
      .meta({ description: 'The remote MCP servers to expose as one stdio server.' }),
  })
  .refine((file) => new Set(file.servers.map((s) => s.name)).size === file.servers.length, {
    message: 'server names must be unique',
    path: ['servers'],
  });

export type ClientServersFile = z.infer<typeof clientServersSchema>;
export type ClientServer = ClientServersFile['servers'][number];

/**
 * Reads a servers file: YAML, `${ENV}` expanded (a missing variable is an error naming the key),
 * every problem reported at once with its key path. Header values are never echoed.
 */
export function loadClientServersFile(path: string, env: NodeJS.ProcessEnv): ClientServersFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('ConfigUnreadable', [{ path: '', message: `${path} cannot be read` }], {
      source: path,
      cause: error,
    });
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new ConfigError(
      'ConfigSyntax',
      [{ path: '', message: (error as Error).message.split('\n')[0] ?? 'invalid YAML' }],
      { source: path, cause: error },
    );
  }
  const expansion = expandEnv(document, env);
  if (expansion.issues.length > 0) {
    throw new ConfigError('ConfigInvalid', expansion.issues, { source: path });
  }
  const parsed = clientServersSchema.safeParse(expansion.value);
  if (!parsed.success) {
    const issues: ConfigIssue[] = parsed.error.issues.map((issue) => {
      const fix = (issue as { params?: { fix?: string } }).params?.fix;
      return {
        path: formatKeyPath(issue.path),
        message:
          issue.code === 'unrecognized_keys'
            ? `unknown key(s): ${issue.keys.join(', ')}`
            : issue.message,
        ...(fix ? { fix } : {}),
      };
    });
    throw new ConfigError('ConfigInvalid', issues, { source: path });
  }
  return parsed.data;
}
