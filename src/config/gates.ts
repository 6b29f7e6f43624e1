import type { LoadedConfig } from './load.ts';

/**
 * The HTTP transport needs three deliberate switches (docs/configuration.md): the config block, the
 * safety flag and the command-line flag. Returns the ones that are missing.
 */
export function missingHttpGates(loaded: LoadedConfig, enableRemoteMcpFlag: boolean): string[] {
  const missing: string[] = [];
  if (!loaded.config.remote_mcp.enabled) missing.push('remote_mcp.enabled: true');
  if (!loaded.config.safety.remote_mcp_enabled) missing.push('safety.remote_mcp_enabled: true');
  if (!enableRemoteMcpFlag) missing.push('--enable-remote-mcp');
  return missing;
}
