import { deepFreeze } from '../lib/deep-freeze.ts';
import { isLoopbackHost, parseHostPort } from '../lib/host.ts';
import type { LoadedConfig } from './load.ts';
import type { Config } from './schema.ts';

/** RFC 9728 §3.1: the well-known suffix is inserted between the host and the resource's path. */
const PRM_WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface DerivedUpstream {
  readonly name: string;
  readonly path: string;
  readonly transport: 'stdio' | 'http';
  /** Canonical resource URI (RFC 8707 §2: no fragment; no trailing slash). */
  readonly resource: string;
  /** Protected resource metadata URLs: path-inserted form, then the root form for the default upstream. */
  readonly metadataUrls: readonly string[];
  readonly isDefault: boolean;
}

export interface BindAddress {
  readonly host: string;
  readonly port: number;
  readonly loopback: boolean;
}

export interface Derived {
  readonly bind: BindAddress;
  /** The admin listener (remote_mcp.admin_bind_address), when configured. */
  readonly admin: BindAddress | undefined;
  /**
   * Where /metrics is served: on the admin listener; on the main listener, when nothing but
   * this machine can reach it (loopback bind and loopback public URL); or nowhere.
   */
  readonly metricsListener: 'admin' | 'main' | 'none';
  /** The gateway's public origin, without a trailing slash. */
  readonly publicUrl: string | undefined;
  /** The issuer access tokens must carry: remote_mcp.issuer, else the co-located one. */
  readonly issuer: string | undefined;
  readonly authorizationServerIssuer: string | undefined;
  readonly audiences: readonly string[];
  readonly upstreams: readonly DerivedUpstream[];
}

/** Values that follow from the configuration. Pure; tolerant of configs that rules.ts refuses. */
export function derive(config: Config): Derived {
  const parsedBind = parseHostPort(config.remote_mcp.bind_address);
  const bind = {
    host: parsedBind?.host ?? '',
    port: parsedBind?.port ?? 0,
    loopback: parsedBind ? isLoopbackHost(parsedBind.host) : false,
  };
  const publicUrl = config.remote_mcp.public_url
    ? new URL(config.remote_mcp.public_url).origin
    : bind.loopback
      ? `http://${config.remote_mcp.bind_address}`
      : undefined;
  const parsedAdmin =
    config.remote_mcp.admin_bind_address === undefined
      ? undefined
      : parseHostPort(config.remote_mcp.admin_bind_address);
  const admin = parsedAdmin && { ...parsedAdmin, loopback: isLoopbackHost(parsedAdmin.host) };
  // A loopback listener behind a reverse proxy is reachable from anywhere; a non-loopback public
  // URL says that is the deployment, so the main listener keeps /metrics only when both are local.
  const metricsListener =
    admin !== undefined
      ? 'admin'
      : bind.loopback && publicUrl !== undefined && isLoopbackHost(new URL(publicUrl).hostname)
        ? 'main'
        : 'none';

  const upstreams = config.upstreams.map((upstream, index): DerivedUpstream => {
    const isDefault = index === 0;
    const resource = canonicalResource(
      isDefault && config.remote_mcp.resource
        ? config.remote_mcp.resource
        : `${publicUrl ?? 'https://public-url.invalid'}${upstream.path}`,
    );
    const resourceUrl = new URL(resource);
    const resourcePath = resourceUrl.pathname === '/' ? '' : resourceUrl.pathname;
    const metadataUrls = [`${resourceUrl.origin}${PRM_WELL_KNOWN}${resourcePath}`];
    if (isDefault && resourcePath !== '')
      metadataUrls.push(`${resourceUrl.origin}${PRM_WELL_KNOWN}`);
    return {
      name: upstream.name,
      path: upstream.path,
      transport: upstream.url === undefined ? 'stdio' : 'http',
      resource,
      metadataUrls,
      isDefault,
    };
  });

  const authorizationServerIssuer = config.authorization_server.enabled
    ? (config.authorization_server.issuer ?? publicUrl)
    : undefined;

  return {
    bind,
    admin,
    metricsListener,
    publicUrl,
    issuer: config.remote_mcp.issuer ?? authorizationServerIssuer,
    authorizationServerIssuer,
    // Every audience some route accepts; each route then accepts only its own (routes.ts).
    audiences: config.remote_mcp.audiences ?? [
      ...new Set([
        ...upstreams.map((upstream) => upstream.resource),
        ...config.upstreams.flatMap((upstream) => upstream.audiences ?? []),
      ]),
    ],
    upstreams,
  };
}

/**
 * The configuration once the public listener is bound. With port 0 in the bind address the
 * system picks the port, and every URL derived from the bind address (the public URL, the
 * resource URIs and audiences, the co-located issuer) must name the port it picked: a client
 * told `http://127.0.0.1:0` could reach none of them (RFC 8414 §2 issuer, RFC 9728 §2
 * resource), and a DPoP proof names the URL the client really used (RFC 9449 §4.3 `htu`). The
 * bind address takes the bound port, and the rest is derived again. Unchanged when the bind
 * address names its port.
 */
export function withBoundPort(loaded: LoadedConfig, port: number): LoadedConfig {
  if (loaded.derived.bind.port !== 0 || port === 0) return loaded;
  const { host } = loaded.derived.bind;
  const config = structuredClone(loaded.config) as Config;
  config.remote_mcp.bind_address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return Object.freeze({
    ...loaded,
    config: deepFreeze(config),
    derived: deepFreeze(derive(config)),
  });
}

/** RFC 8707 §2 / MCP authorization: the canonical form has no fragment and no trailing slash. */
export function canonicalResource(uri: string): string {
  const url = new URL(uri);
  url.hash = '';
  return url.href.replace(/\/$/, '');
}
