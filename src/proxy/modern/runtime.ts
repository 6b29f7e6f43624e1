import { randomBytes } from 'node:crypto';
import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import { RequestStateSealer } from '../../mcp/modern/request-state.ts';
import type { McpRoute } from '../routes.ts';
import type { UpstreamConnector } from '../sessions.ts';
import { type EraProbeResult, type ProtocolSetting, probeHttpUpstreamEra } from './era-probe.ts';
import { ModernHttpForwarder } from './http-forward.ts';
import { ModernToLegacyBridge } from './legacy-bridge.ts';
import type { ModernUpstream } from './modern-endpoint.ts';
import { ModernUpstreamConnector } from './modern-upstream-session.ts';

/**
 * Which era each upstream speaks, and the objects that reach it from either kind of client: the
 * stateless forwarder or the held-session bridge for 2026-07-28 clients, the route's own
 * connector or the initialize-answering bridge for 2025 clients. Eras are resolved once per
 * upstream (start(), then again for any still undecided when asked), and described for
 * `serve --describe` and `/readyz`.
 */

export interface ModernRuntimeOptions {
  readonly logger: Logger;
  /** The connector a route uses for 2025 traffic (stdio child or HTTP pass-through). */
  readonly legacyConnectorFor: (route: McpRoute) => UpstreamConnector;
  /** The route's `protocol` setting. */
  readonly protocolOf: (route: McpRoute) => ProtocolSetting;
  /** Lifetime of a sealed requestState (and of a parked 2025 exchange). */
  readonly requestStateTtlSeconds?: number;
  /** 32-byte key for requestState sealing; default: random per process. */
  readonly requestStateKey?: Uint8Array;
}

export interface EraDescription {
  readonly protocol: ProtocolSetting;
  readonly era: 'modern' | 'legacy' | 'undecided';
  readonly detail: string;
  /** True once a probe ran (an undecided era after a probe is a readiness failure). */
  readonly probed: boolean;
}

interface RouteState {
  result: EraProbeResult;
  probed?: boolean;
  forwarder?: ModernHttpForwarder;
  bridge?: ModernToLegacyBridge;
  modernConnector?: ModernUpstreamConnector;
  /** How modern clients reach it, once the era is decided (never changes after). */
  upstream?: ModernUpstream;
  probing?: Promise<EraProbeResult>;
}

const DEFAULT_STATE_TTL_SECONDS = 600;

export class ModernRuntime {
  readonly #options: ModernRuntimeOptions;
  readonly #sealer: RequestStateSealer;
  readonly #states = new Map<McpRoute, RouteState>();
  readonly #ttlSeconds: number;

  constructor(options: ModernRuntimeOptions) {
    this.#options = options;
    this.#ttlSeconds = options.requestStateTtlSeconds ?? DEFAULT_STATE_TTL_SECONDS;
    this.#sealer = new RequestStateSealer({
      key: options.requestStateKey ?? randomBytes(32),
      ttlSeconds: this.#ttlSeconds,
    });
  }

  /** Resolves every route's era (probing HTTP upstreams whose setting asks for it). */
  async start(routes: readonly McpRoute[]): Promise<void> {
    await Promise.all(routes.map((route) => this.resolve(route)));
  }

  /** The route's era, probing again while it is undecided. */
  async resolve(route: McpRoute): Promise<EraProbeResult> {
    const known = this.#states.get(route);
    if (known !== undefined && known.result.era !== 'undecided') return known.result;
    if (known?.probing !== undefined) return known.probing;
    const state: RouteState = known ?? { result: { era: 'undecided', detail: 'not probed yet' } };
    this.#states.set(route, state);
    const probing = this.#probe(route).then((result) => {
      state.result = result;
      state.probing = undefined;
      state.probed = true;
      this.#options.logger.info(
        { upstream: route.name, era: result.era, detail: result.detail },
        'upstream protocol era',
      );
      return result;
    });
    state.probing = probing;
    return probing;
  }

  /**
   * After a 2025 initialize was refused with 400: probes an `auto` HTTP upstream whose era is
   * not known yet, and says whether it turned out to speak only 2026-07-28. 2025 clients thus
   * cost a probe only when their initialize fails; pinned settings never change.
   */
  async turnedModern(route: McpRoute): Promise<boolean> {
    if (route.transport !== 'http' || this.#options.protocolOf(route) !== 'auto') return false;
    const known = this.#states.get(route)?.result.era;
    if (known === 'legacy' || known === 'modern') return false;
    return (await this.resolve(route)).era === 'modern';
  }

  describe(route: McpRoute): EraDescription {
    const protocol = this.#options.protocolOf(route);
    const state = this.#states.get(route);
    if (state !== undefined) {
      const { era, detail } = state.result;
      return { protocol, era, detail, probed: state.probed === true };
    }
    if (route.transport === 'stdio') {
      return {
        protocol,
        era: 'legacy',
        detail: 'stdio child (2025 session per client)',
        probed: false,
      };
    }
    if (protocol === '2025-11-25')
      return { protocol, era: 'legacy', detail: 'pinned', probed: false };
    return { protocol, era: 'undecided', detail: 'resolved on first use', probed: false };
  }

  /**
   * How a 2026-07-28 client reaches the route's upstream, when that is settled already (the era
   * known and its forwarder or bridge built): no promise on the path every request takes.
   */
  knownUpstream(route: McpRoute): ModernUpstream | undefined {
    return this.#states.get(route)?.upstream;
  }

  /** How a 2026-07-28 client reaches the route's upstream. */
  async upstreamFor(route: McpRoute): Promise<ModernUpstream> {
    const result = await this.resolve(route);
    const state = this.#states.get(route);
    if (state === undefined || result.era === 'undecided') {
      throw new RequestError(
        'UpstreamUnavailable',
        `the protocol of upstream ${route.name} is not known yet`,
        {
          details: { retryAfter: '5' },
        },
      );
    }
    if (result.era === 'modern') {
      state.forwarder ??= this.#forwarderFor(route);
      state.upstream ??= { era: 'modern', forwarder: state.forwarder };
      return state.upstream;
    }
    state.bridge ??= new ModernToLegacyBridge({
      upstream: route.name,
      open: (id, principal) => this.#options.legacyConnectorFor(route).open(id, principal),
      sealer: this.#sealer,
      logger: this.#options.logger.child({ upstream: route.name, bridge: 'modern-client' }),
      maxSessions: route.upstream.max_sessions,
      idleTimeoutMs: route.upstream.session_idle_timeout_seconds * 1000,
      parkTimeoutMs: this.#ttlSeconds * 1000,
    });
    state.upstream ??= { era: 'legacy', bridge: state.bridge };
    return state.upstream;
  }

  /**
   * The connector 2025 clients use: the route's own for a 2025 upstream, the initialize-answering
   * bridge for a modern one. Synchronous: it uses the era already resolved (start()).
   */
  connectorFor(route: McpRoute): UpstreamConnector {
    const pinned = route.transport === 'http' && this.#options.protocolOf(route) === '2026-07-28';
    let state = this.#states.get(route);
    if (!pinned && state?.result.era !== 'modern') return this.#options.legacyConnectorFor(route);
    if (state === undefined) {
      state = { result: { era: 'undecided', detail: 'pinned 2026-07-28; not probed yet' } };
      this.#states.set(route, state);
    }
    state.forwarder ??= this.#forwarderFor(route);
    state.modernConnector ??= new ModernUpstreamConnector(
      route,
      state.forwarder,
      this.#options.logger,
    );
    return state.modernConnector;
  }

  async close(): Promise<void> {
    for (const state of this.#states.values()) {
      await state.bridge?.close();
      await state.forwarder?.close();
    }
    this.#states.clear();
  }

  #forwarderFor(route: McpRoute): ModernHttpForwarder {
    return new ModernHttpForwarder({
      url: route.upstream.url ?? '',
      headers: route.upstream.headers,
      logger: this.#options.logger.child({ upstream: route.name }),
    });
  }

  async #probe(route: McpRoute): Promise<EraProbeResult> {
    const setting = this.#options.protocolOf(route);
    if (route.transport === 'stdio') {
      return setting === '2026-07-28'
        ? { era: 'undecided', detail: 'stdio upstreams speak 2025-11-25 through the gateway' }
        : { era: 'legacy', detail: 'stdio child (2025 session per client)' };
    }
    return probeHttpUpstreamEra({
      url: route.upstream.url ?? '',
      setting,
      headers: route.upstream.headers,
    });
  }
}
