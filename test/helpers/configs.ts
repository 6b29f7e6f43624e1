import { stringify } from 'yaml';
import { HMAC_SECRET } from './cli.ts';

export type ConfigDocument = Record<string, unknown>;

/** A complete, valid config with the gateway enabled against an external issuer. */
export function validDocument(): ConfigDocument {
  return {
    remote_mcp: {
      enabled: true,
      bind_address: '127.0.0.1:8080',
      issuer: 'https://auth.example.com/',
      jwks_url: 'https://auth.example.com/jwks.json',
      allowed_scopes: ['files:read', 'files:write'],
      token_id_hmac_secret_env: 'TEST_HMAC_SECRET',
    },
    safety: { remote_mcp_enabled: true },
    upstreams: [
      {
        name: 'files',
        path: '/mcp',
        command: 'node',
        args: ['server.js'],
        tool_scopes: { read_file: 'files:read', write_file: 'files:write' },
      },
    ],
  };
}

export const VALID_ENV: NodeJS.ProcessEnv = { TEST_HMAC_SECRET: HMAC_SECRET };

export function toYaml(document: ConfigDocument): string {
  return stringify(document);
}

/** A deep copy of the valid document, changed by `edit`. */
export function mutate(
  edit: (
    document: ConfigDocument & {
      remote_mcp: Record<string, unknown>;
      upstreams: Record<string, unknown>[];
    },
  ) => void,
): string {
  const document = validDocument() as ConfigDocument & {
    remote_mcp: Record<string, unknown>;
    upstreams: Record<string, unknown>[];
  };
  edit(document);
  return toYaml(document);
}
