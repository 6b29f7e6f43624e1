import { readFileSync } from 'node:fs';
import {
  createRemoteJWKSet,
  customFetch,
  importPKCS8,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { IdentityProviderConfig } from '../../config/schema.ts';
import { RequestError } from '../../errors/index.ts';
import type { GuardedFetch } from '../../net/index.ts';
import { randomToken, sha256 } from '../crypto.ts';
import type { Claims } from './claim-rules.ts';
import { discover, type ProviderMetadata, providerError } from './metadata.ts';
import { PROFILES, type Profile } from './profiles.ts';
import type { ProviderTokenSet } from './token-vault.ts';

/** The secrets a sign-in keeps between the redirect to the provider and its callback. */
export interface SignInStart {
  readonly url: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

/** A person signed in at the provider, their ID token (or user API answer) checked. */
export interface SignedIn {
  readonly issuer: string;
  readonly providerSubject: string;
  readonly claims: Claims;
  readonly tokens: ProviderTokenSet;
}

export interface ProviderDeps {
  readonly fetch: GuardedFetch;
  /** The client secret from client_secret_env. */
  readonly clientSecret: string | undefined;
  /** Absolute URL of /oauth/idp/callback on this authorization server. */
  readonly callbackUrl: string;
  readonly now: () => number;
  /** Allowed clock difference for exp/iat, in seconds. */
  readonly clockSkewSeconds: number;
}

/** The provider answered a refresh or exchange with invalid_grant: the person's grant is gone. */
export class ProviderGrantInvalid extends Error {
  override readonly name = 'ProviderGrantInvalid';
}

const idTokenInvalid = (message: string, cause?: unknown) =>
  new RequestError('FederationIdTokenInvalid', message, {
    expose: true,
    ...(cause === undefined ? {} : { cause }),
  });

/** Metadata is read again after this long, so a provider's key or endpoint change is noticed. */
const METADATA_TTL_MS = 3600_000;
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * One upstream identity provider: discovery, the authorization request (code + PKCE S256,
 * `state`, `nonce`), the callback (RFC 9207 `iss`, code exchange, ID token validation per
 * OpenID Connect Core §3.1.3.7), refresh, and RFC 8693 token exchange. Every URL it fetches goes
 * through the SSRF-guarded fetch it is given.
 */
export class IdentityProvider {
  readonly name: string;
  readonly displayName: string;
  readonly config: IdentityProviderConfig;
  readonly issuer: string;
  readonly profile: Profile;
  readonly #deps: ProviderDeps;
  #metadata: { value: Promise<ProviderMetadata>; until: number } | undefined;
  #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  #privateKey: ReturnType<typeof importPKCS8> | undefined;

  constructor(config: IdentityProviderConfig, deps: ProviderDeps) {
    this.config = config;
    this.name = config.name;
    this.displayName = config.display_name ?? config.name;
    this.profile = PROFILES[config.profile];
    const issuer = config.issuer ?? this.profile.defaultIssuer(config);
    if (issuer === undefined) throw new TypeError(`identity provider ${config.name}: no issuer`);
    this.issuer = issuer;
    this.#deps = deps;
    if (config.private_key_file !== undefined) {
      // Read at start-up, so a missing or malformed key stops the server with its path named.
      const pem = readFileSync(config.private_key_file, 'utf8');
      this.#privateKey = importPKCS8(pem, config.private_key_algorithm);
      this.#privateKey.catch(() => undefined);
    }
  }

  /** Checks the private key (if any) can be used; rejects naming the file. */
  async ready(): Promise<void> {
    if (this.#privateKey === undefined) return;
    await this.#privateKey.catch((error: unknown) => {
      throw new Error(
        `identity provider ${this.name}: private_key_file ${this.config.private_key_file} is not a PKCS #8 ${this.config.private_key_algorithm} key`,
        { cause: error },
      );
    });
  }

  /** The provider's metadata: discovered (cached an hour) or, for GitHub, fixed. */
  metadata(): Promise<ProviderMetadata> {
    const now = this.#deps.now();
    if (this.#metadata !== undefined && this.#metadata.until > now) return this.#metadata.value;
    const fixed = this.profile.staticMetadata?.(this.issuer);
    const value =
      fixed !== undefined
        ? Promise.resolve(fixed)
        : discover(this.#deps.fetch, this.issuer, (found) =>
            this.profile.metadataIssuerMatches(this.issuer, found),
          );
    this.#metadata = { value, until: now + METADATA_TTL_MS };
    // A failed discovery is not cached: the next sign-in tries again.
    value.catch(() => {
      if (this.#metadata?.value === value) this.#metadata = undefined;
    });
    return value;
  }

  /** Where the sign-in button sends the browser, and what the callback must find again. */
  async start(): Promise<SignInStart> {
    const metadata = await this.metadata();
    const state = randomToken(32);
    const nonce = randomToken(32);
    const codeVerifier = randomToken(32);
    const url = new URL(metadata.authorizationEndpoint);
    const scopes = new Set(this.config.scopes ?? this.profile.defaultScopes);
    if (this.profile.openid) scopes.add('openid');
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: this.config.client_id,
      redirect_uri: this.#deps.callbackUrl,
      scope: [...scopes].join(' '),
      state,
      // RFC 7636 §4.2: S256 of the verifier.
      code_challenge: sha256(codeVerifier),
      code_challenge_method: 'S256',
      ...(this.profile.openid ? { nonce } : {}),
      ...this.profile.authorizationParameters(this.config),
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return { url: url.href, state, nonce, codeVerifier };
  }

  /**
   * The callback: the provider's error, or its code exchanged and the person checked. `state`
   * was matched by the caller (it found this sign-in by it).
   */
  async finish(
    params: URLSearchParams,
    started: { readonly nonce: string; readonly codeVerifier: string },
  ): Promise<SignedIn> {
    const metadata = await this.metadata();
    // RFC 9207 §2.4: checked first, on errors too (an error from a mixed-up provider is no
    // more trustworthy than its code).
    checkResponseIssuer(metadata, params.get('iss'));
    const error = params.get('error');
    if (error !== null) {
      const description = params.get('error_description');
      throw providerError(
        `${this.displayName} refused the sign-in: ${error}${description === null ? '' : ` (${description.slice(0, 200)})`}`,
      );
    }
    const code = params.get('code');
    if (code === null || code === '')
      throw providerError('the provider sent no authorization code');
    const answer = await this.#tokenRequest(metadata, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.#deps.callbackUrl,
      code_verifier: started.codeVerifier,
    });
    const tokens = tokenSet(answer, this.#deps.now());
    if (!this.profile.openid) {
      const claims = await (this.profile.fetchUser?.(
        this.#deps.fetch,
        this.issuer,
        tokens.accessToken,
      ) ?? Promise.reject(providerError('this profile cannot identify the person')));
      const checked = this.profile.checkClaims(this.config, claims);
      return {
        issuer: String(checked.iss),
        providerSubject: String(checked.sub),
        claims: checked,
        tokens,
      };
    }
    const idToken = answer.id_token;
    if (typeof idToken !== 'string') throw idTokenInvalid('the token response has no id_token');
    const claims = await this.validateIdToken(idToken, started.nonce, metadata);
    const checked = this.profile.checkClaims(this.config, claims);
    return {
      issuer: String(claims.iss),
      providerSubject: String(claims.sub),
      claims: checked,
      tokens,
    };
  }

  /** OpenID Connect Core §3.1.3.7: signature (allow-listed algorithms), iss, aud, azp, exp, iat, nonce. */
  async validateIdToken(
    idToken: string,
    nonce: string,
    metadata?: ProviderMetadata,
  ): Promise<JWTPayload> {
    const known = metadata ?? (await this.metadata());
    if (known.jwksUri === undefined) throw idTokenInvalid('the provider publishes no keys');
    this.#jwks ??= createRemoteJWKSet(new URL(known.jwksUri), {
      [customFetch]: (url: string, init: RequestInit) => this.#deps.fetch(url, init),
    });
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, this.#jwks, {
        algorithms: [...this.config.id_token_algorithms],
        audience: this.config.client_id,
        clockTolerance: this.#deps.clockSkewSeconds,
        currentDate: new Date(this.#deps.now()),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      }));
    } catch (error) {
      // No cause attached: jose's claim errors carry the token's claims (personal data) and
      // the failure is logged; the problem in words is enough.
      throw idTokenInvalid(idTokenProblem(error));
    }
    if (
      typeof payload.iss !== 'string' ||
      !this.profile.tokenIssuerMatches(known.issuer, payload.iss, payload)
    ) {
      throw idTokenInvalid(
        `the ID token was issued by ${String(payload.iss)}, not ${known.issuer}`,
      );
    }
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (payload.azp !== undefined ? payload.azp !== this.config.client_id : audiences.length > 1) {
      throw idTokenInvalid('the ID token was issued to another client (azp)');
    }
    if (typeof payload.nonce !== 'string' || payload.nonce !== nonce) {
      throw idTokenInvalid('the ID token does not carry the nonce of this sign-in');
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      throw idTokenInvalid('the ID token has no subject');
    }
    return payload;
  }

  /** A fresh access token from a refresh token; ProviderGrantInvalid on invalid_grant. */
  async refresh(current: ProviderTokenSet): Promise<ProviderTokenSet> {
    if (current.refreshToken === undefined) throw new ProviderGrantInvalid('no refresh token');
    const metadata = await this.metadata();
    const answer = await this.#tokenRequest(metadata, {
      grant_type: 'refresh_token',
      refresh_token: current.refreshToken,
    });
    const fresh = tokenSet(answer, this.#deps.now());
    // RFC 6749 §6: the provider may keep the refresh token; then the old one stays valid.
    return { ...fresh, refreshToken: fresh.refreshToken ?? current.refreshToken };
  }

  /** RFC 8693 §2.1: the person's provider token exchanged for one meant for `target`. */
  async exchange(
    subjectToken: string,
    target: { audience?: string; resource?: string; scopes?: readonly string[] },
  ): Promise<{ accessToken: string; expiresAt: number | undefined }> {
    const metadata = await this.metadata();
    const answer = await this.#tokenRequest(metadata, {
      grant_type: TOKEN_EXCHANGE,
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      requested_token_type: ACCESS_TOKEN_TYPE,
      ...(target.audience === undefined ? {} : { audience: target.audience }),
      ...(target.resource === undefined ? {} : { resource: target.resource }),
      ...(target.scopes === undefined ? {} : { scope: target.scopes.join(' ') }),
    });
    const tokens = tokenSet(answer, this.#deps.now());
    return { accessToken: tokens.accessToken, expiresAt: tokens.expiresAt };
  }

  async #clientAuthentication(
    metadata: ProviderMetadata,
  ): Promise<{ headers: Record<string, string>; body: Record<string, string> }> {
    const method =
      this.config.token_endpoint_auth_method ??
      (this.config.private_key_file === undefined ? 'client_secret_basic' : 'private_key_jwt');
    const clientId = this.config.client_id;
    if (method === 'private_key_jwt') {
      const key = await (this.#privateKey ?? Promise.reject(new Error('no private key')));
      const now = Math.floor(this.#deps.now() / 1000);
      // RFC 7523 §3: iss = sub = client_id, aud = the token endpoint, short-lived, unique jti.
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: this.config.private_key_algorithm })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(metadata.tokenEndpoint)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(randomToken(16))
        .sign(key);
      return {
        headers: {},
        body: {
          client_id: clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        },
      };
    }
    const secret = this.#deps.clientSecret ?? '';
    if (method === 'client_secret_post') {
      return { headers: {}, body: { client_id: clientId, client_secret: secret } };
    }
    // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
    const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
    const basic = Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64');
    return { headers: { authorization: `Basic ${basic}` }, body: {} };
  }

  async #tokenRequest(
    metadata: ProviderMetadata,
    params: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    const auth = await this.#clientAuthentication(metadata);
    let response: Response;
    try {
      response = await this.#deps.fetch(metadata.tokenEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          ...auth.headers,
        },
        body: new URLSearchParams({ ...params, ...auth.body }).toString(),
      });
    } catch (error) {
      throw providerError(`the token endpoint of ${this.displayName} cannot be reached`, error);
    }
    const answer = (await response.json().catch(() => undefined)) as
      | Record<string, unknown>
      | undefined;
    const errorCode = typeof answer?.error === 'string' ? answer.error : undefined;
    if (!response.ok || answer === undefined || errorCode !== undefined) {
      if (errorCode === 'invalid_grant' && params.grant_type !== 'authorization_code') {
        throw new ProviderGrantInvalid(`${this.displayName} answered invalid_grant`);
      }
      // Never the secret: only the provider's error code and the status.
      throw providerError(
        errorCode === 'invalid_client'
          ? `${this.displayName} refused Portcullis's client credentials (invalid_client)`
          : `the token endpoint of ${this.displayName} answered ${response.status}${errorCode === undefined ? '' : ` ${errorCode}`}`,
      );
    }
    if (typeof answer.access_token !== 'string' || answer.access_token === '') {
      throw providerError(`the token endpoint of ${this.displayName} returned no access token`);
    }
    return answer;
  }
}

/**
 * RFC 9207 §2.4: an `iss` in the authorization response must be the provider's issuer, and is
 * required when the provider's metadata says it sends one. A templated multi-tenant issuer
 * (Entra's `{tenantid}`) is checked on the ID token instead, where the tenant is known.
 */
function checkResponseIssuer(metadata: ProviderMetadata, iss: string | null): void {
  const templated = metadata.issuer.includes('{');
  const wrong =
    iss === null ? metadata.issParameterSupported : iss !== metadata.issuer && !templated;
  if (wrong) {
    throw providerError(
      `the authorization response came from issuer ${iss ?? '(none)'}, not ${metadata.issuer} (RFC 9207)`,
    );
  }
}

function tokenSet(answer: Record<string, unknown>, now: number): ProviderTokenSet {
  const expiresIn = typeof answer.expires_in === 'number' ? answer.expires_in : undefined;
  return {
    accessToken: String(answer.access_token),
    refreshToken: typeof answer.refresh_token === 'string' ? answer.refresh_token : undefined,
    expiresAt: expiresIn === undefined ? undefined : now + expiresIn * 1000,
    scope: typeof answer.scope === 'string' ? answer.scope : undefined,
  };
}

/** What failed, in words for the error page (never the token). */
function idTokenProblem(error: unknown): string {
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `the ID token's ${error.claim} claim is not valid (${error.reason})`;
  }
  if (error instanceof joseErrors.JWTExpired) return 'the ID token has expired';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return 'the ID token is signed with an algorithm not in id_token_algorithms';
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return "the ID token's signature does not verify";
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return 'the ID token is signed with a key the provider does not publish';
  }
  if (error instanceof joseErrors.JOSEError) return `the ID token is not valid (${error.code})`;
  return 'the ID token cannot be verified';
}
