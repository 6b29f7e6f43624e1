import type { LoadedConfig } from '../../config/index.ts';
import type { Store } from '../../store/index.ts';
import { looksLikeClientIdUrl } from '../checks/client-id-url.ts';
import type { ClientMetadata } from '../checks/client-metadata.ts';
import { sha256 } from '../crypto.ts';
import type { Client } from './client.ts';
import type { MetadataDocumentResolver } from './metadata-documents.ts';

/**
 * Finds clients: pre-registered in the config, registered dynamically (in the store), or named
 * by a client ID metadata document URL. An unknown client resolves to undefined; a metadata
 * document that cannot be used throws its RequestError.
 */
export class ClientRegistry {
  private readonly staticClients: ReadonlyMap<string, Client>;
  private readonly store: Store;
  private readonly documents: MetadataDocumentResolver | undefined;
  private readonly allowedScopes: readonly string[];

  constructor(
    loaded: Pick<LoadedConfig, 'config' | 'secrets'>,
    store: Store,
    documents: MetadataDocumentResolver | undefined,
  ) {
    this.store = store;
    this.documents = documents;
    this.allowedScopes = loaded.config.remote_mcp.allowed_scopes;
    const clients = new Map<string, Client>();
    for (const entry of loaded.config.authorization_server.clients) {
      const secret = loaded.secrets.clientSecrets[entry.client_id];
      clients.set(entry.client_id, {
        clientId: entry.client_id,
        kind: 'pre-registered',
        name: entry.client_name,
        redirectUris: entry.redirect_uris,
        grantTypes: entry.grant_types,
        authMethods:
          secret === undefined ? ['none'] : ['client_secret_basic', 'client_secret_post'],
        secretHash: secret === undefined ? undefined : sha256(secret),
        scopes: entry.scope ?? this.allowedScopes,
      });
    }
    this.staticClients = clients;
  }

  /** The clients of the configuration (read-only: edit the config to change them). */
  preRegistered(): readonly Client[] {
    return [...this.staticClients.values()];
  }

  async resolve(clientId: string): Promise<Client | undefined> {
    const known = this.staticClients.get(clientId);
    if (known !== undefined) return known;
    const record = await this.store.getClient(clientId);
    if (looksLikeClientIdUrl(clientId)) {
      if (this.documents === undefined || record?.disabledAt !== undefined) return undefined;
      return this.documents.resolve(clientId);
    }
    // A client an operator disabled is unknown everywhere: authorize, token, revocation.
    if (record === undefined || record.disabledAt !== undefined) return undefined;
    const metadata = record.metadata as unknown as ClientMetadata;
    return {
      clientId: record.clientId,
      kind: 'dynamic',
      name: metadata.client_name,
      redirectUris: metadata.redirect_uris,
      grantTypes: metadata.grant_types,
      authMethods: [metadata.token_endpoint_auth_method],
      secretHash: record.secretHash,
      scopes: metadata.scope === undefined ? this.allowedScopes : metadata.scope.split(' '),
    };
  }
}
