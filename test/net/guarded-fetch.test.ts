import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { RequestError } from '../../src/errors/index.ts';
import { createGuardedFetch, type Resolver } from '../../src/net/index.ts';
import { type LoopbackServer, startLoopbackServer } from '../helpers/http-server.ts';

/*
 * SSRF corpus (SF-01..13 in docs/security-cases.md) against a real server on 127.0.0.1 that counts
 * every TCP connection and request. For each blocked URL the counters must not move. The positive
 * controls reach the same server only through the explicit allowLoopback switch, and the same URLs
 * are shown blocked with the switch off.
 */

/** A stub resolver: tests must not depend on outside DNS (the box may have none). */
const ZONE: Record<string, LookupAddress[]> = {
  'loopback.test': [{ address: '127.0.0.1', family: 4 }],
  '127.0.0.1.nip.io': [{ address: '127.0.0.1', family: 4 }],
  'localtest.me': [{ address: '127.0.0.1', family: 4 }],
  'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
  'mixed.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '127.0.0.1', family: 4 },
  ],
  'mixed-private.test': [
    { address: '127.0.0.1', family: 4 },
    { address: '10.0.0.1', family: 4 },
  ],
  'private.test': [{ address: '10.0.0.1', family: 4 }],
  'metadata.test': [{ address: '169.254.169.254', family: 4 }],
  'ula.test': [{ address: 'fd00::1', family: 6 }],
  'public.test': [{ address: '93.184.216.34', family: 4 }],
  'dev.localhost': [{ address: '127.0.0.1', family: 4 }],
  localhost: [{ address: '127.0.0.1', family: 4 }],
};
let resolutions = 0;
const resolver: Resolver = (hostname, _options, callback) => {
  resolutions++;
  const answer = ZONE[hostname.replace(/\.$/, '')];
  setImmediate(() =>
    answer
      ? callback(null, answer)
      : callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []),
  );
};

let server: LoopbackServer;
let port = 0;

before(async () => {
  // Bombs are built once, before any memory is measured.
  const bombs = {
    gzip: gzipSync(Buffer.alloc(50 * 1024 * 1024)),
    br: brotliCompressSync(Buffer.alloc(20 * 1024 * 1024)),
    deflate: deflateSync(Buffer.alloc(20 * 1024 * 1024)),
  };
  server = await startLoopbackServer({
    '/ok': (_request, response) => response.end('{"ok":true}'),
    '/hit': (_request, response) => response.end('reached'),
    '/echo': (request, response, body) =>
      response.end(
        JSON.stringify({
          method: request.method,
          type: request.headers['content-type'],
          body: body.toString(),
        }),
      ),
    '/gzip-small': (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync('{"small":true}'));
    },
    '/big': (_request, response) => response.end(Buffer.alloc(2 * 1024 * 1024, 97)),
    '/big-declared': (_request, response) => {
      response.writeHead(200, { 'content-length': '999999999' });
      response.write('x');
    },
    '/big-chunked': (_request, response) => {
      response.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 98);
      for (let index = 0; index < 32; index++) response.write(chunk);
      response.end();
    },
    '/bomb-gzip': (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip' }).end(bombs.gzip);
    },
    '/bomb-br': (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'br' }).end(bombs.br);
    },
    '/bomb-deflate': (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'deflate' }).end(bombs.deflate);
    },
    '/unknown-encoding': (_request, response) => {
      response.writeHead(200, { 'content-encoding': 'compress' }).end('xx');
    },
    '/drip': (_request, response) => {
      response.writeHead(200);
      const timer = setInterval(() => response.write('.'), 50);
      response.on('close', () => clearInterval(timer));
    },
    '/no-content': (_request, response) => response.writeHead(204).end(),
    '/not-found-json': (_request, response) =>
      response.writeHead(404, { 'content-type': 'application/json' }).end('{}'),
  });
  port = server.port;
  for (const status of [301, 302, 303, 307, 308]) {
    server.route(`/redirect-${status}`, (_request, response) =>
      response.writeHead(status, { location: `http://127.0.0.1:${port}/hit` }).end(),
    );
  }
  server.route('/redirect-metadata', (_request, response) =>
    response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
  );
});

after(() => server.close());

async function expectRefusal(
  promise: Promise<unknown>,
  code: 'FetchBlocked' | 'FetchFailed',
): Promise<RequestError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RequestError, `expected a RequestError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('SSRF corpus: blocked URLs never reach the loopback server', () => {
  const guarded = createGuardedFetch({ resolver });
  const guardedDev = createGuardedFetch({ resolver, allowLoopback: true });
  /** [url, why] — `PORT` is replaced by the counting server's port. */
  const corpus: [string, string][] = [
    ['http://127.0.0.1:PORT/hit', 'SF-10 plain http, no development switch'],
    ['https://127.0.0.1:PORT/hit', 'SF-01 loopback literal'],
    ['https://2130706433:PORT/hit', 'SF-02 decimal'],
    ['https://0x7f.1:PORT/hit', 'SF-02 hex short form'],
    ['https://0x7f000001:PORT/hit', 'SF-02 hex'],
    ['https://0177.0.0.1:PORT/hit', 'SF-02 octal'],
    ['https://127.1:PORT/hit', 'SF-02 short form'],
    ['https://127.0.0.1.:PORT/hit', 'SF-02 trailing dot'],
    ['https://①②⑦.⓪.⓪.①:PORT/hit', 'SF-02 full-width digits'],
    ['https://127。0。0。1:PORT/hit', 'SF-02 ideographic full stops'],
    ['https://0:PORT/hit', 'SF-02 0 (Linux connects 0.0.0.0 to the local host)'],
    ['https://0.0.0.0:PORT/hit', 'SF-01 0.0.0.0'],
    ['https://[::]:PORT/hit', 'SF-03 unspecified IPv6'],
    ['https://[::1]:PORT/hit', 'SF-03 IPv6 loopback'],
    ['https://[::ffff:127.0.0.1]:PORT/hit', 'SF-03 IPv4-mapped'],
    ['https://[::ffff:7f00:1]:PORT/hit', 'SF-03 IPv4-mapped, hex'],
    ['https://[::127.0.0.1]:PORT/hit', 'SF-03 IPv4-compatible'],
    ['https://[64:ff9b::7f00:1]:PORT/hit', 'SF-03 NAT64'],
    ['https://localhost:PORT/hit', 'SF-04 localhost'],
    ['https://localhost.:PORT/hit', 'SF-04 localhost with trailing dot'],
    ['https://x.localhost:PORT/hit', 'SF-04 subdomain of localhost'],
    ['https://loopback.test:PORT/hit', 'SF-04 name resolving to loopback'],
    ['https://127.0.0.1.nip.io:PORT/hit', 'SF-04 wildcard DNS'],
    ['https://localtest.me:PORT/hit', 'SF-04 localtest.me'],
    ['https://mapped.test:PORT/hit', 'SF-04 AAAA with an IPv4-mapped loopback'],
    ['https://mixed.test:PORT/hit', 'SF-07 one public and one loopback answer'],
    ['https://private.test:PORT/hit', 'SF-04 name resolving to 10/8'],
    ['https://metadata.test/hit', 'SF-04 name resolving to link-local metadata'],
    ['https://ula.test/hit', 'SF-04 name resolving to unique-local IPv6'],
    ['https://10.0.0.1:PORT/hit', 'SF-01 10/8'],
    ['https://100.64.0.1/hit', 'SF-01 CGNAT'],
    ['https://169.254.169.254/latest/meta-data/', 'SF-01 cloud metadata'],
    ['https://0xA9FEA9FE/latest/meta-data/', 'SF-02 hex metadata address'],
    ['https://172.16.0.1/hit', 'SF-01 172.16/12'],
    ['https://192.168.1.1/hit', 'SF-01 192.168/16'],
    ['https://192.0.0.8/hit', 'SF-01 IETF protocol assignments'],
    ['https://198.18.0.1/hit', 'SF-01 benchmarking'],
    ['https://224.0.0.1/hit', 'SF-01 multicast'],
    ['https://240.0.0.1/hit', 'SF-01 reserved'],
    ['https://255.255.255.255/hit', 'SF-01 broadcast'],
    ['https://[fc00::1]/hit', 'SF-03 unique local'],
    ['https://[fe80::1]/hit', 'SF-03 link-local'],
    ['https://[fec0::1]/hit', 'SF-03 site-local'],
    ['https://[ff02::1]/hit', 'SF-03 multicast'],
    ['https://[100::1]/hit', 'SF-03 discard-only'],
    ['https://[2001::1]/hit', 'SF-03 Teredo'],
    ['https://[2002:7f00:1::]/hit', 'SF-03 6to4 of loopback'],
    ['https://[3fff::1]/hit', 'SF-03 documentation'],
    ['https://[5f00::1]/hit', 'SF-03 SRv6'],
    ['https://[64:ff9b:1::1]/hit', 'SF-03 local-use NAT64'],
    ['https://user@127.0.0.1:PORT/hit', 'SF-09 userinfo'],
    ['https://expected.example@127.0.0.1:PORT/hit', 'SF-09 userinfo naming another host'],
    ['file:///etc/passwd', 'SF-10 file'],
    ['gopher://127.0.0.1:PORT/hit', 'SF-10 gopher'],
    ['ftp://127.0.0.1:PORT/hit', 'SF-10 ftp'],
    ['ws://127.0.0.1:PORT/hit', 'SF-10 ws'],
    ['data:text/plain,hello', 'SF-10 data'],
    ['not a url', 'not a URL'],
  ];
  for (const [template, why] of corpus) {
    test(`${why}: ${template}`, async () => {
      const target = template.replace('PORT', String(port));
      const before = { connections: server.connections(), requests: server.requests() };
      await expectRefusal(guarded(target), 'FetchBlocked');
      assert.deepEqual({ connections: server.connections(), requests: server.requests() }, before);
    });
  }

  /** Even under the development switch, only loopback is let through, and http only to it. */
  const stillBlockedWithSwitch: [string, string][] = [
    ['https://10.0.0.1:PORT/hit', 'private literal'],
    ['https://169.254.169.254/hit', 'metadata literal'],
    ['https://mixed-private.test:PORT/hit', 'loopback plus private answers'],
    ['https://private.test:PORT/hit', 'name resolving to private'],
    ['http://public.test:PORT/hit', 'plain http to a public name'],
    ['http://loopback.test:PORT/hit', 'plain http to a name that is not a localhost name'],
    ['http://93.184.216.34:PORT/hit', 'plain http to a public literal'],
    ['https://0.0.0.0:PORT/hit', '0.0.0.0 is not loopback'],
  ];
  for (const [template, why] of stillBlockedWithSwitch) {
    test(`with allowLoopback, still blocked: ${why}`, async () => {
      const before = server.connections();
      await expectRefusal(guardedDev(template.replace('PORT', String(port))), 'FetchBlocked');
      assert.equal(server.connections(), before);
    });
  }

  test('allowedPorts refuses other ports before connecting (SF-11)', async () => {
    const fetch443 = createGuardedFetch({ resolver, allowLoopback: true, allowedPorts: [443] });
    const before = server.connections();
    await expectRefusal(fetch443(`http://127.0.0.1:${port}/hit`), 'FetchBlocked');
    assert.equal(server.connections(), before);
  });

  test('positive control: the same server is reachable with allowLoopback, and only with it', async () => {
    for (const url of [
      `http://127.0.0.1:${port}/ok`,
      `http://localhost:${port}/ok`,
      `http://dev.localhost:${port}/ok`,
      `http://[::ffff:127.0.0.1]:${port}/ok`,
    ]) {
      const before = server.requests();
      await expectRefusal(guarded(url), 'FetchBlocked');
      assert.equal(server.requests(), before, `${url} reached the server without the switch`);
      const response = await guardedDev(url);
      assert.equal(response.status, 200, url);
      assert.deepEqual(await response.json(), { ok: true });
      assert.equal(response.url, new URL(url).href);
      assert.equal(server.requests(), before + 1);
    }
  });

  test('each connection resolves the name once and connects to what was checked (SF-06)', async () => {
    const start = resolutions;
    const response = await guardedDev(`http://dev.localhost:${port}/ok`);
    assert.equal(response.status, 200);
    assert.equal(resolutions - start, 1);
  });
});

describe('redirects are refused, never followed (SF-08)', () => {
  const guardedDev = createGuardedFetch({ allowLoopback: true });
  for (const status of [301, 302, 303, 307, 308]) {
    test(`${status} to the same server is not followed`, async () => {
      const hitsBefore = server.hits.get('/hit') ?? 0;
      const error = await expectRefusal(
        guardedDev(`http://127.0.0.1:${port}/redirect-${status}`, { redirect: 'follow' }),
        'FetchBlocked',
      );
      assert.match(error.message, /redirect/);
      assert.equal(server.hits.get('/hit') ?? 0, hitsBefore);
    });
  }
  test('a redirect to the metadata address is refused', async () => {
    await expectRefusal(guardedDev(`http://127.0.0.1:${port}/redirect-metadata`), 'FetchBlocked');
  });
  test('positive control: a 200 from the same server is returned', async () => {
    const response = await guardedDev(`http://127.0.0.1:${port}/hit`);
    assert.equal(await response.text(), 'reached');
  });
});

describe('size and time caps (SF-12, SF-13)', () => {
  const guardedDev = createGuardedFetch({ allowLoopback: true });
  const cases: [string, string][] = [
    ['/big', 'identity body over 1 MiB'],
    ['/big-declared', 'declared Content-Length over the cap'],
    ['/big-chunked', 'chunked body over the cap without a length'],
    ['/bomb-gzip', 'gzip bomb: 50 KiB on the wire, 50 MiB inflated'],
    ['/bomb-br', 'brotli bomb'],
    ['/bomb-deflate', 'deflate bomb'],
    ['/unknown-encoding', 'unknown content-encoding'],
  ];
  for (const [path, why] of cases) {
    test(`${why} fails with FetchFailed`, async () => {
      const heapBefore = process.memoryUsage().arrayBuffers;
      const error = await expectRefusal(
        guardedDev(`http://127.0.0.1:${port}${path}`),
        'FetchFailed',
      );
      assert.doesNotMatch(error.message, /Bearer|eyJ/);
      // Nothing near the inflated size was kept (the cap is 1 MiB).
      assert.ok(process.memoryUsage().arrayBuffers - heapBefore < 16 * 1024 * 1024);
    });
  }
  test('the gzip bomb really is small on the wire', async () => {
    // The bomb's point: Content-Length says little, inflating says a lot.
    const raw = await fetch(`http://127.0.0.1:${port}/bomb-gzip`, {
      headers: { 'accept-encoding': 'identity' },
    });
    assert.ok(Number(raw.headers.get('content-length')) < 100 * 1024);
    await raw.body?.cancel();
  });
  test('a dripping body hits the deadline', async () => {
    const quick = createGuardedFetch({ allowLoopback: true, timeoutMs: 300 });
    const error = await expectRefusal(quick(`http://127.0.0.1:${port}/drip`), 'FetchFailed');
    assert.match(error.message, /300 ms/);
  });
  test('a smaller maxBytes is honoured', async () => {
    const tiny = createGuardedFetch({ allowLoopback: true, maxBytes: 5 });
    await expectRefusal(tiny(`http://127.0.0.1:${port}/ok`), 'FetchFailed');
  });
  test('positive control: a small gzip body is decoded, and caps do not hit normal answers', async () => {
    const response = await guardedDev(`http://127.0.0.1:${port}/gzip-small`);
    assert.equal(response.headers.get('content-encoding'), null);
    assert.deepEqual(await response.json(), { small: true });
  });
});

describe('SF-15: environment proxies are not used', () => {
  test('with NODE_USE_ENV_PROXY and HTTP_PROXY set, the guarded fetch still goes direct', async () => {
    const proxy = await startLoopbackServer();
    // A forward proxy sees the absolute URL as the request target.
    proxy.route(`http://127.0.0.1:${port}/hit`, (_request, response) => response.end('proxy'));
    try {
      const script = [
        "import http from 'node:http';",
        `import { createGuardedFetch } from ${JSON.stringify(new URL('../../src/net/index.ts', import.meta.url).href)};`,
        'const fetch = createGuardedFetch({ allowLoopback: true });',
        `const guarded = await (await fetch('http://127.0.0.1:${port}/hit')).text();`,
        // Control: Node's own client does honour the proxy variables in this process.
        `const plain = await new Promise((done) => http.get('http://127.0.0.1:${port}/hit', (r) => { let b = ''; r.on('data', (c) => { b += c; }); r.on('end', () => done(b)); }));`,
        'console.log(JSON.stringify({ guarded, plain }));',
      ].join('\n');
      const { execFile } = await import('node:child_process');
      const output = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ['--input-type=module', '-e', script],
          {
            env: {
              PATH: process.env.PATH,
              NODE_USE_ENV_PROXY: '1',
              HTTP_PROXY: proxy.origin,
              http_proxy: proxy.origin,
              HTTPS_PROXY: proxy.origin,
            },
            timeout: 20_000,
          },
          (error, stdout, stderr) =>
            error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
        );
      });
      const result = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as {
        guarded: string;
        plain: string;
      };
      assert.equal(result.guarded, 'reached');
      assert.equal(result.plain, 'proxy', 'the control shows the proxy variables were in effect');
    } finally {
      await proxy.close();
    }
  });
});

describe('fetch compatibility', () => {
  const guardedDev = createGuardedFetch({ allowLoopback: true });
  test('POST with a form body sends method, type and bytes', async () => {
    const response = await guardedDev(`http://127.0.0.1:${port}/echo`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'abc', hint: 'x y' }),
    });
    assert.deepEqual(await response.json(), {
      method: 'POST',
      type: 'application/x-www-form-urlencoded;charset=UTF-8',
      body: 'token=abc&hint=x+y',
    });
  });
  test('non-2xx answers are returned as they are', async () => {
    assert.equal((await guardedDev(`http://127.0.0.1:${port}/not-found-json`)).status, 404);
    const empty = await guardedDev(`http://127.0.0.1:${port}/no-content`);
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
  });
  test('an aborted signal rejects with its reason', async () => {
    const controller = new AbortController();
    const pending = guardedDev(`http://127.0.0.1:${port}/drip`, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await assert.rejects(pending, /stop/);
    await assert.rejects(
      guardedDev(`http://127.0.0.1:${port}/ok`, { signal: AbortSignal.abort() }),
      {
        name: 'AbortError',
      },
    );
  });
  test('a closed port is a FetchFailed, not a crash', async () => {
    const closed = await startLoopbackServer();
    const closedPort = closed.port;
    await closed.close();
    await expectRefusal(guardedDev(`http://127.0.0.1:${closedPort}/`), 'FetchFailed');
  });
  test('bad options are refused at creation', () => {
    assert.throws(() => createGuardedFetch({ timeoutMs: 0 }), TypeError);
    assert.throws(() => createGuardedFetch({ maxBytes: Number.NaN }), TypeError);
  });
});
