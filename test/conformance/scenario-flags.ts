/**
 * Turns a conformance scenario's context (MCP_CONFORMANCE_CONTEXT) into portcullis client flags.
 * Secrets travel in environment variables, never in argv.
 */

/** The client ID metadata document URL `auth/basic-cimd` expects. */
export const CONFORMANCE_CIMD_URL = 'https://conformance-test.local/client-metadata.json';

interface Context {
  readonly client_id?: string;
  readonly client_secret?: string;
  readonly private_key_pem?: string;
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
  return { flags, env };
}
