import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { runDeviceFlow } from '../../src/client/device-flow.ts';
import type { AuthorizationServerMetadata } from '../../src/client/discovery.ts';
import type { DeviceAuthorization, TokenContext } from '../../src/client/token-requests.ts';
import {
  Browser,
  createHarness,
  type Harness,
  hiddenFields,
  PASSWORD,
} from '../authorization-server/harness.ts';
import {
  type ProtectedEndpoint,
  protectedEndpoint,
} from '../authorization-server/protected-endpoint.ts';
import { launchChromium, SKIP_WITHOUT_CHROMIUM } from '../helpers/browser-oauth.ts';
import { CLI_ENTRY, REPO_ROOT, runCli, tempDir } from '../helpers/cli.ts';

/**
 * The OAuth 2.0 device authorization grant (RFC 8628): the co-located authorization server's
 * device endpoint, user code page (behind the same sign-in and consent) and device_code grant,
 * and `portcullis login --device` against it — with Chromium entering the code.
 */

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** A harness whose AS knows a device client and protects /mcp with a real SDK server. */
async function deviceHarness(): Promise<{ h: Harness; endpoint: ProtectedEndpoint }> {
  let harness: Harness | undefined;
  const endpoint = protectedEndpoint({
    origin: () => harness?.url ?? '',
    as: () => {
      if (harness === undefined) throw new Error('not started');
      return harness.as;
    },
    now: () => harness?.clock.now ?? Date.now(),
    scopes: ['files:read'],
  });
  harness = await createHarness({
    edit: (document) => {
      document.development = { allow_loopback_urls: true };
      (document.authorization_server as { clients: object[] }).clients.push({
        client_id: 'device-cli',
        client_name: 'Device CLI',
        redirect_uris: ['http://127.0.0.1/cb'],
        grant_types: [DEVICE_GRANT, 'refresh_token'],
        scope: ['files:read'],
      });
    },
    extra: (request) => endpoint.handle(request),
  });
  return { h: harness, endpoint };
}

interface DeviceAnswer {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/** A person at the user code page, signing in and deciding, without a real browser. */
async function enterCode(
  h: Harness,
  userCode: string,
  decision: 'allow' | 'deny',
  browser = h.browser(),
): Promise<{ status: number; text: string }> {
  const form = await browser.get('/oauth/device');
  let response = await browser.postForm('/oauth/device', {
    ...hiddenFields(await form.text()),
    user_code: userCode,
  });
  for (let hop = 0; hop < 6 && response.status === 303; hop++) {
    const location = new URL(response.headers.get('location') ?? '', h.url);
    const page = await browser.get(location.pathname + location.search);
    if (page.status === 303) {
      response = page;
      continue;
    }
    const fields = hiddenFields(await page.text());
    response =
      location.pathname === '/oauth/login'
        ? await browser.postForm('/oauth/login', {
            ...fields,
            username: 'alice',
            password: PASSWORD,
          })
        : await browser.postForm('/oauth/consent', { ...fields, decision });
  }
  return { status: response.status, text: await response.text() };
}

describe('RFC 8628 at the co-located authorization server: refusals, each with the upstream untouched', () => {
  let h: Harness;
  before(async () => {
    ({ h } = await deviceHarness());
  });
  after(async () => h?.close());

  const start = async (clientId = 'device-cli') => {
    const answer = await h.post('/oauth/device_authorization', {
      client_id: clientId,
      resource: h.resource,
      scope: 'files:read',
    });
    return answer;
  };
  const poll = (deviceCode: string, clientId = 'device-cli') =>
    h.token({
      grant_type: DEVICE_GRANT,
      device_code: deviceCode,
      client_id: clientId,
      resource: h.resource,
    });
  const issued = () => h.eventsNamed('oauth.token.issued').length;

  it('a device request: codes, the page URL, 10 minutes, every 5 s', async () => {
    const answer = await start();
    assert.equal(answer.status, 200, answer.text);
    const body = answer.body as unknown as DeviceAnswer;
    assert.match(body.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(body.verification_uri, `${h.url}/oauth/device`);
    assert.equal(body.expires_in, 600);
    assert.equal(body.interval, 5);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
  });

  const refusals: {
    name: string;
    run: () => Promise<{ status: number; body: Record<string, unknown> }>;
    status: number;
    error: string;
  }[] = [
    {
      name: 'a client not registered for the device grant',
      run: () => start('codes-only'),
      status: 400,
      error: 'unauthorized_client',
    },
    {
      name: 'no resource (RFC 8707)',
      run: () => h.post('/oauth/device_authorization', { client_id: 'device-cli' }),
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'an unknown device code',
      run: () => poll('not-a-device-code'),
      status: 400,
      error: 'invalid_grant',
    },
    {
      name: 'before the person decides: authorization_pending',
      run: async () => poll(((await start()).body as unknown as DeviceAnswer).device_code),
      status: 400,
      error: 'authorization_pending',
    },
    {
      name: 'polling too fast: slow_down',
      run: async () => {
        const code = ((await start()).body as unknown as DeviceAnswer).device_code;
        await poll(code);
        return poll(code);
      },
      status: 400,
      error: 'slow_down',
    },
    {
      name: 'an expired code: expired_token',
      run: async () => {
        const code = ((await start()).body as unknown as DeviceAnswer).device_code;
        h.clock.advance(601_000);
        return poll(code);
      },
      status: 400,
      error: 'expired_token',
    },
    {
      name: 'the person denied: access_denied',
      run: async () => {
        const body = (await start()).body as unknown as DeviceAnswer;
        const page = await enterCode(h, body.user_code, 'deny');
        assert.match(page.text, /Request denied/);
        return poll(body.device_code);
      },
      status: 403,
      error: 'access_denied',
    },
    {
      name: 'another client polls the code',
      run: async () => {
        const body = (await start()).body as unknown as DeviceAnswer;
        await enterCode(h, body.user_code, 'allow');
        return poll(body.device_code, 'pre-public');
      },
      status: 400,
      error: 'unauthorized_client',
    },
  ];
  for (const refusal of refusals) {
    it(`${refusal.name}: ${refusal.status} ${refusal.error}, no token issued`, async () => {
      const before = issued();
      const answer = await refusal.run();
      assert.equal(answer.status, refusal.status, JSON.stringify(answer.body));
      assert.equal(answer.body.error, refusal.error);
      assert.equal(answer.body.access_token, undefined);
      assert.equal(issued(), before);
    });
  }

  it('slow_down lasts: the interval grows by 5 s, and a poll after it is merely pending', async () => {
    const code = ((await start()).body as unknown as DeviceAnswer).device_code;
    await poll(code);
    assert.equal((await poll(code)).body.error, 'slow_down');
    h.clock.advance(5_000);
    assert.equal((await poll(code)).body.error, 'slow_down', '10 s were due; now 15 s are');
    h.clock.advance(15_000);
    assert.equal((await poll(code)).body.error, 'authorization_pending');
  });

  it('a code used twice: the second redemption gets invalid_grant, no second token', async () => {
    const body = (await start()).body as unknown as DeviceAnswer;
    await enterCode(h, body.user_code, 'allow');
    assert.equal((await poll(body.device_code)).status, 200);
    const after = issued();
    const again = await poll(body.device_code);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    assert.equal(issued(), after);
  });

  it('a user code entered twice: the second time the page refuses it (400)', async () => {
    const body = (await start()).body as unknown as DeviceAnswer;
    await enterCode(h, body.user_code, 'allow');
    const browser = new Browser(h.url);
    const form = await browser.get('/oauth/device');
    const second = await browser.postForm('/oauth/device', {
      ...hiddenFields(await form.text()),
      user_code: body.user_code,
    });
    assert.equal(second.status, 400);
    assert.match(await second.text(), /not valid/);
  });

  it('positive control: approved once, the device gets a Bearer token and a refresh token', async () => {
    const body = (await start()).body as unknown as DeviceAnswer;
    const page = await enterCode(h, body.user_code.toLowerCase().replace('-', ' '), 'allow');
    assert.match(page.text, /Device connected/);
    const answer = await poll(body.device_code);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.token_type, 'Bearer');
    assert.equal(typeof answer.body.access_token, 'string');
    assert.equal(typeof answer.body.refresh_token, 'string');
    assert.equal(answer.body.scope, 'files:read');
  });
});

describe('the client side of RFC 8628 (runDeviceFlow) against the co-located authorization server', () => {
  let h: Harness;
  before(async () => {
    ({ h } = await deviceHarness());
  });
  after(async () => h?.close());

  const context = async (): Promise<TokenContext> => {
    const metadata = (await (
      await fetch(`${h.url}/.well-known/oauth-authorization-server`)
    ).json()) as AuthorizationServerMetadata;
    return {
      discovery: {
        resource: h.resource,
        issuer: h.issuer,
        metadata,
        defaultEndpoints: false,
        legacy: false,
      },
      client: { issuer: h.issuer, client_id: 'device-cli', source: 'pre-registered' },
      fetch,
    };
  };

  it('slow_down makes the client wait 5 s longer from then on; approval ends the wait', async () => {
    const waits: number[] = [];
    let shown: DeviceAuthorization | undefined;
    const notices: string[] = [];
    const tokens = await runDeviceFlow(await context(), 'files:read', {
      notice: (text) => notices.push(text),
      now: () => h.clock.now,
      show: (device) => {
        shown = device;
      },
      sleep: async (ms) => {
        waits.push(ms);
        // The first two waits are cut short (the server sees polls too close together), then
        // the person approves and the client waits as told.
        h.clock.advance(waits.length <= 1 ? ms : waits.length === 2 ? 1000 : ms);
        if (waits.length === 3 && shown) await enterCode(h, shown.user_code, 'allow');
      },
    });
    assert.equal(tokens.token_type, 'Bearer');
    assert.deepEqual(waits.slice(0, 3), [5000, 5000, 10000]);
    assert.ok(notices.some((n) => /more slowly \(every 10 s\)/.test(n)));
  });

  const failures = [
    {
      name: 'denied',
      decide: async (device: DeviceAuthorization) => {
        await enterCode(h, device.user_code, 'deny');
      },
      advance: 5000,
      pattern: /ClientAuthorizationFailed|denied/,
    },
    { name: 'expired', decide: async () => undefined, advance: 601_000, pattern: /expired/ },
  ];
  for (const failure of failures) {
    it(`${failure.name}: the flow ends with a clear error, no token`, async () => {
      let shown: DeviceAuthorization | undefined;
      const before = h.eventsNamed('oauth.token.issued').length;
      await assert.rejects(
        runDeviceFlow(await context(), 'files:read', {
          notice: () => undefined,
          now: () => h.clock.now,
          show: async (device) => {
            shown = device;
            await failure.decide(device);
          },
          sleep: async () => {
            h.clock.advance(failure.advance);
          },
        }),
        failure.pattern,
      );
      assert.ok(shown);
      assert.equal(h.eventsNamed('oauth.token.issued').length, before);
    });
  }
});

/** `portcullis login URL --device` as a child process; the code is read from its stderr. */
function startLogin(
  h: Harness,
  store: string,
): {
  child: ChildProcess;
  code: Promise<{ userCode: string; uri: string }>;
  exit: Promise<{ status: number; stderr: string }>;
} {
  const child = spawn(
    process.execPath,
    [
      CLI_ENTRY,
      'login',
      `${h.url}/mcp`,
      '--device',
      '--client-id',
      'device-cli',
      '--token-store',
      store,
    ],
    { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const code = new Promise<{ userCode: string; uri: string }>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /open (\S+) and enter the code: ([A-Z]{4}-[A-Z]{4})/.exec(stderr);
      if (match?.[1] && match[2]) resolve({ uri: match[1], userCode: match[2] });
    });
    child.once('close', () => reject(new Error(`login ended without a code:\n${stderr}`)));
  });
  code.catch(() => undefined);
  const exit = new Promise<{ status: number; stderr: string }>((resolve) =>
    child.once('close', (status) => resolve({ status: status ?? -1, stderr })),
  );
  return { child, code, exit };
}

describe('portcullis login --device, end to end: Chromium enters the user code', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let h: Harness;
  let endpoint: ProtectedEndpoint;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  before(async () => {
    ({ h, endpoint } = await deviceHarness());
    h.clock.now = Date.now();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  async function decideInChromium(uri: string, userCode: string, button: 'Allow' | 'Deny') {
    const context = browser?.context;
    assert.ok(context);
    await context.clearCookies();
    const page = await context.newPage();
    await page.goto(uri);
    await page.getByLabel('Code').fill(userCode);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/oauth\/consent\?/);
    assert.match((await page.textContent('main')) ?? '', /Device CLI/);
    await page.getByRole('button', { name: button }).click();
    const done = (await page.textContent('main')) ?? '';
    await page.close();
    return done;
  }

  it('approved in the browser: login stores tokens, then call uses them without interaction', {
    timeout: 120_000,
  }, async () => {
    const store = tempDir();
    const login = startLogin(h, store);
    const { uri, userCode } = await login.code;
    assert.equal(uri, `${h.url}/oauth/device`);
    assert.match(await decideInChromium(uri, userCode, 'Allow'), /Device connected/);
    const result = await login.exit;
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /Logged in to/);
    const call = await runCli([
      'call',
      `${h.url}/mcp`,
      'echo',
      '--args',
      '{"text":"from the device"}',
      '--non-interactive',
      '--token-store',
      store,
      '--client-id',
      'device-cli',
    ]);
    assert.equal(call.code, 0, call.stderr);
    assert.match(call.stdout, /alice: from the device/);
    assert.ok(endpoint.calls.some((c) => c.tool === 'echo' && c.subject === 'alice'));
  });

  it('denied in the browser: login fails with ClientAuthorizationFailed, nothing stored', {
    timeout: 120_000,
  }, async () => {
    const store = tempDir();
    const login = startLogin(h, store);
    const { uri, userCode } = await login.code;
    assert.match(await decideInChromium(uri, userCode, 'Deny'), /Request denied/);
    const result = await login.exit;
    assert.equal(result.status, 1);
    assert.match(result.stderr, /ClientAuthorizationFailed: the sign-in was denied/);
    const call = await runCli([
      'call',
      `${h.url}/mcp`,
      'echo',
      '--args',
      '{"text":"x"}',
      '--non-interactive',
      '--token-store',
      store,
      '--client-id',
      'device-cli',
    ]);
    assert.equal(call.code, 1);
    assert.match(call.stderr, /ClientInteractionRequired/);
  });
});
