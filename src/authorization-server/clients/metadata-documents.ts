import { RequestError } from '../../errors/index.ts';
import type { Logger } from '../../lib/log.ts';
import type { GuardedFetch } from '../../net/index.ts';
import { clientIdUrlProblem } from '../checks/client-id-url.ts';
import { type ClientMetadata, validateClientMetadata } from '../checks/client-metadata.ts';
import { parseClientMetadataJson } from '../checks/json-body.ts';
import type { Client } from './client.ts';

/** The document size cap (draft-ietf-oauth-client-id-metadata-document §8.7 suggests 5 KB). */
export const METADATA_DOCUMENT_MAX_BYTES = 5 * 1024;

export interface MetadataDocumentOptions {
  /** The SSRF-guarded fetch, created with a 5 KiB cap. */
  readonly fetch: GuardedFetch;
  readonly now: () => number;
  readonly allowLoopback: boolean;
  readonly allowedScopes: readonly string[];
  readonly logger?: Logger | undefined;
  /** Bounds on how long a document is trusted, whatever its Cache-Control says. */
  readonly minTtlMs?: number;
  readonly maxTtlMs?: number;
  /** Used when the answer has no max-age. */
  readonly defaultTtlMs?: number;
  readonly maxEntries?: number;
  /** Fetches in flight at once, in total and per host: a flood of slow URLs cannot pile up. */
  readonly maxInFlight?: number;
  readonly maxInFlightPerHost?: number;
}

interface CacheEntry {
  readonly client: Client;
  readonly expiresAt: number;
}

/**
 * Resolves client_id URLs to clients by fetching their client ID metadata documents through the
 * SSRF guard (200 only, no redirects, 5 KiB after decoding, JSON). Documents are cached per
 * their Cache-Control max-age, clamped to [minTtl, maxTtl], in a bounded LRU; `no-store` and
 * `no-cache` are not cached; failures and invalid documents are never cached. Concurrent first
 * requests for one URL share a single fetch.
 */
export class MetadataDocumentResolver {
  private readonly options: MetadataDocumentOptions;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<Client>>();
  private readonly minTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly defaultTtlMs: number;
  private readonly maxEntries: number;
  private readonly maxInFlight: number;
  private readonly maxInFlightPerHost: number;
  private readonly perHost = new Map<string, number>();
  /** Fetches actually made; for tests of coalescing and caching. */
  fetches = 0;

  constructor(options: MetadataDocumentOptions) {
    this.options = options;
    this.minTtlMs = options.minTtlMs ?? 60_000;
    this.maxTtlMs = options.maxTtlMs ?? 86_400_000;
    this.defaultTtlMs = options.defaultTtlMs ?? 300_000;
    this.maxEntries = options.maxEntries ?? 1000;
    this.maxInFlight = options.maxInFlight ?? 32;
    this.maxInFlightPerHost = options.maxInFlightPerHost ?? 4;
  }

  async resolve(clientId: string): Promise<Client> {
    const problem = clientIdUrlProblem(clientId, this.options.allowLoopback);
    if (problem !== undefined) {
      throw new RequestError('OAuthInvalidClient', `client_id URL ${problem}`);
    }
    const cached = this.cache.get(clientId);
    if (cached !== undefined) {
      if (cached.expiresAt > this.options.now()) {
        // LRU: a hit moves the entry to the back.
        this.cache.delete(clientId);
        this.cache.set(clientId, cached);
        return cached.client;
      }
      this.cache.delete(clientId);
    }
    let pending = this.inFlight.get(clientId);
    if (pending === undefined) {
      const host = new URL(clientId).host;
      const hostCount = this.perHost.get(host) ?? 0;
      if (this.inFlight.size >= this.maxInFlight || hostCount >= this.maxInFlightPerHost) {
        throw new RequestError(
          'CapacityExceeded',
          'too many client metadata documents are being fetched; try again shortly',
        );
      }
      this.perHost.set(host, hostCount + 1);
      pending = this.fetchDocument(clientId).finally(() => {
        this.inFlight.delete(clientId);
        const left = (this.perHost.get(host) ?? 1) - 1;
        if (left === 0) this.perHost.delete(host);
        else this.perHost.set(host, left);
      });
      this.inFlight.set(clientId, pending);
    }
    return pending;
  }

  private async fetchDocument(url: string): Promise<Client> {
    this.fetches++;
    let response: Response;
    try {
      response = await this.options.fetch(url, { headers: { accept: 'application/json' } });
    } catch (error) {
      this.options.logger?.warn(
        { err: error, client_id: url },
        'client metadata document fetch failed',
      );
      throw new RequestError(
        'OAuthInvalidClient',
        'the client metadata document could not be fetched',
        { cause: error },
      );
    }
    if (response.status !== 200) {
      throw new RequestError(
        'OAuthInvalidClient',
        `the client metadata document answered ${response.status}, not 200`,
      );
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new RequestError(
        'OAuthInvalidClient',
        'the client metadata document is not served as application/json',
      );
    }
    let document: unknown;
    try {
      document = parseClientMetadataJson(await response.text());
    } catch (error) {
      // The parser's message may quote the document: keep it in the log only.
      this.options.logger?.info({ err: error, client_id: url }, 'client metadata document invalid');
      throw new RequestError(
        'OAuthInvalidClient',
        'the client metadata document is not valid JSON',
      );
    }
    const record =
      document !== null && typeof document === 'object' && !Array.isArray(document)
        ? (document as Record<string, unknown>)
        : undefined;
    // Simple string comparison (RFC 3986 §6.2.1), no normalization.
    if (record === undefined || record.client_id !== url) {
      throw new RequestError(
        'OAuthInvalidClientMetadata',
        'the client_id in the metadata document does not equal its URL',
      );
    }
    const metadata = validateClientMetadata(record, 'document', this.options.allowedScopes);
    const client = toClient(url, metadata, this.options.allowedScopes);
    const ttl = this.ttlFrom(response.headers.get('cache-control'));
    if (ttl > 0) this.remember(url, { client, expiresAt: this.options.now() + ttl });
    return client;
  }

  private ttlFrom(cacheControl: string | null): number {
    if (cacheControl === null) return this.defaultTtlMs;
    const directives = cacheControl
      .toLowerCase()
      .split(',')
      .map((part) => part.trim());
    if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
    const maxAge = directives.find((d) => d.startsWith('max-age='))?.slice('max-age='.length);
    if (maxAge === undefined || !/^\d+$/.test(maxAge)) return this.defaultTtlMs;
    return Math.min(this.maxTtlMs, Math.max(this.minTtlMs, Number(maxAge) * 1000));
  }

  private remember(url: string, entry: CacheEntry): void {
    this.cache.delete(url);
    this.cache.set(url, entry);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  /** How many documents are cached; for tests. */
  get size(): number {
    return this.cache.size;
  }
}

function toClient(url: string, metadata: ClientMetadata, allowedScopes: readonly string[]): Client {
  return {
    clientId: url,
    kind: 'metadata-document',
    name: metadata.client_name,
    redirectUris: metadata.redirect_uris,
    grantTypes: metadata.grant_types,
    authMethods: ['none'],
    secretHash: undefined,
    scopes: metadata.scope === undefined ? allowedScopes : metadata.scope.split(' '),
  };
}
