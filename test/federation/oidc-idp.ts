/**
 * A real OpenID provider for the federation tests: node-oidc-provider (certified) on 127.0.0.1,
 * configured as a separate issuer with its own login page (devInteractions), PKCE required,
 * RFC 9207 `iss` in responses, refresh tokens, and the RFC 8693 token-exchange grant registered
 * as an extension grant. A test switch makes it forge the ID token it returns (re-signed with
 * its own key, so only the claim is wrong): wrong nonce, audience or issuer.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT } from 'jose';
import Provider, {
  type Configuration,
  errors,
  type KoaContextWithOIDC,
  type TokenEndpointGrantContext,
} from 'oidc-provider';

export interface Person {
  readonly email: string;
  readonly name: string;
  readonly groups: readonly string[];
}

export type Forgery = 'nonce' | 'aud' | 'iss' | undefined;

export interface OidcIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Every access token the token endpoint handed out (code, refresh and exchange grants). */
  readonly issuedAccessTokens: Set<string>;
  /** Exchanged tokens and the audience each was exchanged for. */
  readonly exchanged: Map<string, { audience: string | undefined; subjectToken: string }>;
  /** The ID token the next token responses carry is forged this way. */
  forge: Forgery;
  /** When true, new access tokens live 30 s (less than Portcullis's refresh margin). */
  shortLivedAccessTokens: boolean;
  /** Revokes every refresh token of the account (the provider ends the person's grant). */
  revokeRefreshTokensOf(accountId: string): Promise<void>;
  close(): Promise<void>;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export async function startOidcIdp(options: {
  readonly redirectUri: string;
  readonly people: Readonly<Record<string, Person>>;
}): Promise<OidcIdp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    format: 'jwk',
  });
  const signingJwk = { ...rsa, kid: 'idp-rs256', alg: 'RS256', use: 'sig' };
  const clientId = 'portcullis';
  const clientSecret = 'portcullis-at-the-idp-secret-0123456789';
  const refreshTokens = new Map<string, Set<string>>();
  const state = {
    forge: undefined as Forgery,
    shortLivedAccessTokens: false,
  };
  const issuedAccessTokens = new Set<string>();
  const exchanged = new Map<string, { audience: string | undefined; subjectToken: string }>();

  const provider = new Provider(issuer, {
    jwks: { keys: [signingJwk] },
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
    },
    // Claims in the ID token itself (the code flow would otherwise keep them for userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    findAccount: async (_ctx: unknown, id: string) => {
      const person = options.people[id];
      if (person === undefined) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          email: person.email,
          email_verified: true,
          name: person.name,
          groups: [...person.groups],
        }),
      };
    },
    // The person consented once and for all: the provider's consent prompt is not under test.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const clientId = ctx.oidc.client?.clientId ?? '';
      const grantId =
        (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId ??
        ctx.oidc.session?.grantIdFor(clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId,
        accountId: ctx.oidc.session?.accountId ?? '',
      });
      grant.addOIDCScope('openid email profile offline_access');
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
      await grant.save();
      return grant;
    },
    issueRefreshToken: async () => true,
    ttl: {
      AccessToken: () => (state.shortLivedAccessTokens ? 30 : 600),
      IdToken: 600,
      RefreshToken: 86_400,
      Grant: 86_400,
      Session: 86_400,
      Interaction: 600,
      AuthorizationCode: 60,
    },
  } as Configuration);

  // RFC 8693 as an extension grant: the subject token must be an access token this provider
  // issued; the new token names the requested audience.
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx: TokenEndpointGrantContext) => {
      const params = ctx.oidc.params as Record<string, string | undefined>;
      const { subject_token: subjectToken, subject_token_type: type, audience } = params;
      if (type !== 'urn:ietf:params:oauth:token-type:access_token') {
        throw new errors.InvalidRequest('unsupported subject_token_type');
      }
      const client = ctx.oidc.client;
      if (client === undefined) throw new errors.InvalidClient('client authentication required');
      const subject = await ctx.oidc.provider.AccessToken.find(subjectToken ?? '');
      if (!subject || subject.isExpired) throw new errors.InvalidGrant('subject token invalid');
      const token = new ctx.oidc.provider.AccessToken({
        accountId: subject.accountId,
        client,
        grantId: subject.grantId,
        gty: 'token_exchange',
        scope: 'openid',
      });
      const value = await token.save();
      exchanged.set(value, { audience, subjectToken: subjectToken ?? '' });
      ctx.body = {
        access_token: value,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: token.expiration,
      };
    },
    [
      'subject_token',
      'subject_token_type',
      'audience',
      'resource',
      'requested_token_type',
      'scope',
    ],
  );

  const forgeryKey = await importJWK(signingJwk, 'RS256');
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || ctx.status !== 200 || typeof ctx.body !== 'object') return;
    const body = ctx.body as Record<string, unknown>;
    if (typeof body.access_token === 'string') issuedAccessTokens.add(body.access_token);
    if (typeof body.refresh_token === 'string') {
      const accountId = (await provider.RefreshToken.find(body.refresh_token))?.accountId;
      if (accountId !== undefined) {
        const set = refreshTokens.get(accountId) ?? new Set<string>();
        set.add(body.refresh_token);
        refreshTokens.set(accountId, set);
      }
    }
    if (state.forge !== undefined && typeof body.id_token === 'string') {
      const claims = decodeJwt(body.id_token);
      const forged = {
        ...claims,
        ...(state.forge === 'nonce' ? { nonce: 'a-nonce-from-another-sign-in' } : {}),
        ...(state.forge === 'aud' ? { aud: 'some-other-client' } : {}),
        ...(state.forge === 'iss' ? { iss: 'http://127.0.0.1:1/impostor' } : {}),
      };
      body.id_token = await new SignJWT(forged)
        .setProtectedHeader(decodeProtectedHeader(body.id_token) as { alg: string })
        .sign(forgeryKey);
    }
  });

  server.on('request', provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    issuedAccessTokens,
    exchanged,
    get forge() {
      return state.forge;
    },
    set forge(value: Forgery) {
      state.forge = value;
    },
    get shortLivedAccessTokens() {
      return state.shortLivedAccessTokens;
    },
    set shortLivedAccessTokens(value: boolean) {
      state.shortLivedAccessTokens = value;
    },
    async revokeRefreshTokensOf(accountId) {
      for (const value of refreshTokens.get(accountId) ?? []) {
        const token = await provider.RefreshToken.find(value);
        await token?.destroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
