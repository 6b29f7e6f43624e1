import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createInterimGuardedFetch } from '../../src/client/index.ts';
import { isRequestError } from '../../src/errors/index.ts';

// INTERIM: these cover the stand-in until src/net's createGuardedFetch replaces it.
describe('interim guarded fetch (to be replaced by src/net)', () => {
  let server: Server;
  let origin: string;
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/target' }).end();
      } else if (req.url === '/big') {
        res.writeHead(200).end(Buffer.alloc(2048, 'x'));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const blocked: [string, () => Promise<unknown>][] = [
    [
      'file: scheme',
      () => createInterimGuardedFetch({ allowLoopback: true })('file:///etc/passwd'),
    ],
    [
      'credentials in the URL',
      () => createInterimGuardedFetch({ allowLoopback: true })(`http://u:p@127.0.0.1:1/`),
    ],
    ['loopback without the switch', () => createInterimGuardedFetch()(`${origin}/ok`)],
    [
      'plain http to a public host',
      () => createInterimGuardedFetch({ allowLoopback: true })('http://example.com/'),
    ],
    [
      'a redirect (never followed)',
      () => createInterimGuardedFetch({ allowLoopback: true })(`${origin}/redirect`),
    ],
  ];
  for (const [name, attempt] of blocked) {
    it(`refuses ${name} with FetchBlocked`, async () => {
      await assert.rejects(attempt(), (e) => isRequestError(e) && e.code === 'FetchBlocked');
    });
  }
  it('the refused loopback URL was never contacted; the redirect target never either', () => {
    assert.equal(hits, 1, 'only the /redirect request itself');
  });
  it('a body over the cap fails with FetchFailed', async () => {
    await assert.rejects(
      createInterimGuardedFetch({ allowLoopback: true, maxBytes: 1024 })(`${origin}/big`),
      (e) => isRequestError(e) && e.code === 'FetchFailed',
    );
  });
  it('a closed port fails with FetchFailed', async () => {
    await assert.rejects(
      createInterimGuardedFetch({ allowLoopback: true })('http://127.0.0.1:9/'),
      (e) => isRequestError(e) && e.code === 'FetchFailed',
    );
  });
  it('positive control: loopback under the switch answers, body read', async () => {
    const response = await createInterimGuardedFetch({ allowLoopback: true })(`${origin}/ok`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true });
  });
});
