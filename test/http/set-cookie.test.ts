/**
 * A Web Response that sets several cookies (the authorization server's sign-in sets its session
 * and its CSRF cookie at once) must deliver every Set-Cookie field: RFC 6265 §3 forbids folding
 * them into one, so each leaves as its own header line.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { writeAnswer } from '../../src/http/respond.ts';

const COOKIES = ['session=s1; Path=/; HttpOnly; SameSite=Lax', 'csrf=c2; Path=/oauth; Secure'];

/** Each case: the Web Response the front writes, and the cookies that must arrive. */
const cases: { name: string; answer: () => Response; cookies: string[] }[] = [
  {
    name: 'two cookies, known length',
    answer: () =>
      new Response('signed in', {
        headers: [
          ['content-type', 'text/plain'],
          ['content-length', '9'],
          ['set-cookie', COOKIES[0] ?? ''],
          ['set-cookie', COOKIES[1] ?? ''],
        ],
      }),
    cookies: COOKIES,
  },
  {
    name: 'two cookies, streamed body',
    answer: () => {
      const headers = new Headers({ 'content-type': 'text/html' });
      for (const cookie of COOKIES) headers.append('set-cookie', cookie);
      return new Response(new Blob(['<p>signed in</p>']).stream(), { headers });
    },
    cookies: COOKIES,
  },
  {
    name: 'two cookies, no body (a redirect)',
    answer: () => {
      const headers = new Headers({ location: '/account' });
      for (const cookie of COOKIES) headers.append('set-cookie', cookie);
      return new Response(null, { status: 303, headers });
    },
    cookies: COOKIES,
  },
  {
    name: 'positive control: one cookie',
    answer: () => new Response('ok', { headers: { 'set-cookie': 'only=1; Path=/' } }),
    cookies: ['only=1; Path=/'],
  },
  {
    name: 'positive control: no cookie',
    answer: () => new Response('ok', { headers: { 'content-type': 'text/plain' } }),
    cookies: [],
  },
];

describe('writeAnswer: every Set-Cookie of a Web Response is written', () => {
  let server: Server;
  let origin: string;
  before(async () => {
    server = createServer((request, response) => {
      const chosen = cases[Number(request.url?.slice(1))];
      if (chosen === undefined) {
        response.writeHead(404).end();
        return;
      }
      void writeAnswer(response, chosen.answer(), { 'x-request-id': 'req-1' }, false);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  for (const [index, c] of cases.entries()) {
    it(c.name, async () => {
      const response = await fetch(`${origin}/${index}`, { redirect: 'manual' });
      assert.deepEqual(response.headers.getSetCookie(), c.cookies);
      // The front's own headers still join the answer's.
      assert.equal(response.headers.get('x-request-id'), 'req-1');
      await response.body?.cancel();
    });
  }
});
