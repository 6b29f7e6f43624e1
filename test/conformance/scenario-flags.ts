/**
 * Turns a conformance scenario's context (MCP_CONFORMANCE_CONTEXT) into portcullis client flags.
 * Secrets travel in environment variables, never in argv.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The client ID metadata document URL `auth/basic-cimd` expects. */
export const CONFORMANCE_CIMD_URL = 'https://conformance-test.local/client-metadata.json';

interface Context {
  readonly client_id?: string;
  readonly client_secret?: string;
  readonly private_key_pem?: string;
  /** auth/wif-jwt-bearer: the workload JWT the client presents. */
  readonly valid_jwt?: string;
  /** auth/enterprise-managed-authorization: the person's ID token and the enterprise IdP. */
  readonly idp_id_token?: string;
  readonly idp_client_id?: string;
  readonly idp_token_endpoint?: string;
}

export function scenarioFlags(
  scenario: string,
  contextJson: string | undefined,
  store: string,
): { flags: string[]; env: Record<string, string> } {
  const context = JSON.parse(contextJson ?? '{}') as Context;
  const env: Record<string, string> = {};
  const flags = [
    '--open',
    'fetch',
    '--token-store',
    store,
    '--client-metadata-url',
    CONFORMANCE_CIMD_URL,
  ];
  if (context.client_id !== undefined) flags.push('--client-id', context.client_id);
  if (context.client_secret !== undefined) {
    env.CONFORMANCE_CLIENT_SECRET = context.client_secret;
    flags.push('--client-secret-env', 'CONFORMANCE_CLIENT_SECRET');
  }
  if (context.private_key_pem !== undefined) {
    env.CONFORMANCE_PRIVATE_KEY = context.private_key_pem;
    flags.push('--private-key-env', 'CONFORMANCE_PRIVATE_KEY');
  }
  if (scenario.startsWith('auth/client-credentials')) flags.push('--grant', 'client_credentials');
  // Workload identity federation: the workload token file, as an agent would write it.
  if (context.valid_jwt !== undefined) {
    const file = join(store, 'workload.jwt');
    writeFileSync(file, `${context.valid_jwt}\n`, { mode: 0o600 });
    flags.push('--assertion-file', file);
  }
  // Enterprise-managed authorization: the ID token is exchanged at the IdP for an ID-JAG.
  if (context.idp_id_token !== undefined) {
    env.CONFORMANCE_ID_TOKEN = context.idp_id_token;
    flags.push('--id-token-env', 'CONFORMANCE_ID_TOKEN');
    if (context.idp_token_endpoint !== undefined) {
      flags.push('--idp-token-endpoint', context.idp_token_endpoint);
    }
    if (context.idp_client_id !== undefined) flags.push('--idp-client-id', context.idp_client_id);
  }
  return { flags, env };
}
