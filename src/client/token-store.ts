import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Discovery } from './discovery.ts';
import type { StoredDpopKey } from './dpop.ts';
import { withFileLock } from './file-lock.ts';
import { ensurePrivateDir, loadStoreKey, seal, storeError, unseal } from './store-crypto.ts';
import type { StoredClient, StoredTokens } from './types.ts';

/** What the store keeps for one MCP server. Tokens are kept per issuer (MCP draft, SEP-2352). */
export interface ServerRecord {
  readonly serverUrl: string;
  /** The issuer whose tokens are current for this server. */
  readonly issuer?: string;
  /** The last discovery, so a refresh needs no network round trip to find the token endpoint. */
  readonly discovery?: Discovery;
  readonly tokens?: Readonly<Record<string, StoredTokens>>;
  /**
   * The issuer a pre-registered client (`--client-id`) was first used with for this server. Its
   * credentials are not presented to another issuer without the user's say-so (MCP draft,
   * SEP-2352: pre-registered credentials bound to one authorization server).
   */
  readonly preRegisteredBinding?: { readonly clientId: string; readonly issuer: string };
  /** DPoP keys by issuer (RFC 9449): one per (server, issuer), sealed with the tokens they bind. */
  readonly dpopKeys?: Readonly<Record<string, StoredDpopKey>>;
}

export interface ServerTransaction {
  read(): Promise<ServerRecord | undefined>;
  /** Replaces the record atomically; `undefined` deletes it. */
  write(record: ServerRecord | undefined): Promise<void>;
}

type Kind = 'servers' | 'clients';

/** Default folder: $PORTCULLIS_TOKEN_STORE, else $XDG_STATE_HOME/portcullis/tokens, else ~/.local/state/portcullis/tokens. */
export function defaultTokenStoreDir(env: NodeJS.ProcessEnv): string {
  if (env.PORTCULLIS_TOKEN_STORE) return env.PORTCULLIS_TOKEN_STORE;
  const state = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'portcullis', 'tokens');
}

/**
 * Encrypted token store: one file per server and one per issuer's client registration, each
 * AES-256-GCM sealed (store-crypto.ts) and named by a hash, so neither tokens nor server URLs
 * appear on disk in clear. Writes go to a temporary file (0600) renamed into place; every
 * read-modify-write holds the file's lock, so processes sharing the store never lose an update
 * nor see half a file.
 */
export class TokenStore {
  readonly dir: string;
  readonly #key: Buffer;

  private constructor(dir: string, key: Buffer) {
    this.dir = dir;
    this.#key = key;
  }

  static open(dir: string, options: { env?: NodeJS.ProcessEnv } = {}): TokenStore {
    try {
      ensurePrivateDir(dir);
      ensurePrivateDir(join(dir, 'servers'));
      ensurePrivateDir(join(dir, 'clients'));
      return new TokenStore(dir, loadStoreKey(dir, options.env ?? process.env));
    } catch (error) {
      throw storeError(error, dir);
    }
  }

  readServer(serverUrl: string): Promise<ServerRecord | undefined> {
    return this.#read<ServerRecord>('servers', serverUrl);
  }

  /** Runs `fn` holding this server's lock; reads and writes inside see each other. */
  withServer<T>(serverUrl: string, fn: (tx: ServerTransaction) => Promise<T>): Promise<T> {
    const path = this.#path('servers', serverUrl);
    return withFileLock(`${path}.lock`, () =>
      fn({
        read: () => this.#read<ServerRecord>('servers', serverUrl),
        write: (record) => this.#write('servers', serverUrl, record),
      }),
    );
  }

  updateServer(
    serverUrl: string,
    change: (record: ServerRecord | undefined) => ServerRecord | undefined,
  ): Promise<ServerRecord | undefined> {
    return this.withServer(serverUrl, async (tx) => {
      const next = change(await tx.read());
      await tx.write(next);
      return next;
    });
  }

  readClient(issuer: string): Promise<StoredClient | undefined> {
    return this.#read<StoredClient>('clients', issuer);
  }

  writeClient(client: StoredClient): Promise<void> {
    const path = this.#path('clients', client.issuer);
    return withFileLock(`${path}.lock`, () => this.#write('clients', client.issuer, client));
  }

  deleteClient(issuer: string): Promise<void> {
    const path = this.#path('clients', issuer);
    return withFileLock(`${path}.lock`, () => this.#write('clients', issuer, undefined));
  }

  #name(kind: Kind, id: string): string {
    return createHash('sha256').update(`${kind}\0${id}`).digest('hex').slice(0, 40);
  }

  #path(kind: Kind, id: string): string {
    return join(this.dir, kind, `${this.#name(kind, id)}.json`);
  }

  #aad(kind: Kind, id: string): string {
    return `portcullis-token-store/v1 ${kind} ${this.#name(kind, id)}`;
  }

  async #read<T>(kind: Kind, id: string): Promise<T | undefined> {
    const path = this.#path(kind, id);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeError(error, path);
    }
    const plain = unseal(this.#key, text, this.#aad(kind, id), path);
    const value = JSON.parse(plain) as T & { id?: string };
    return value;
  }

  async #write(kind: Kind, id: string, value: object | undefined): Promise<void> {
    const path = this.#path(kind, id);
    try {
      if (value === undefined) {
        await unlink(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
        return;
      }
      const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(seal(this.#key, JSON.stringify(value), this.#aad(kind, id)));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      throw storeError(error, path);
    }
  }
}
