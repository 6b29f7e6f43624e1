import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { guardListenStream, type ListenEnd } from '../../src/proxy/modern/listen-guard.ts';

function upstreamStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      cancelled = true;
    },
  });
  return {
    stream,
    push: (text: string) => controller.enqueue(new TextEncoder().encode(text)),
    end: () => controller.close(),
    get cancelled() {
      return cancelled;
    },
  };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

describe('subscriptions/listen guard', () => {
  it('ends the stream and closes the upstream listen when the grant is revoked', async () => {
    const upstream = upstreamStream();
    let revoked = false;
    const ends: ListenEnd[] = [];
    const guarded = guardListenStream(upstream.stream, {
      keepAliveMs: 0,
      expiresAt: undefined,
      stillAuthorized: async () => !revoked,
      checkEveryMs: 5,
      onEnd: (reason) => ends.push(reason),
    });
    upstream.push('data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n');
    const body = readAll(guarded);
    revoked = true;
    assert.match(await body, /list_changed/);
    assert.deepEqual(ends, ['revoked']);
    assert.equal(upstream.cancelled, true);
  });

  it('ends at the token expiry', async () => {
    const upstream = upstreamStream();
    const ends: ListenEnd[] = [];
    let clock = 1_000;
    const guarded = guardListenStream(upstream.stream, {
      keepAliveMs: 0,
      expiresAt: 2_000,
      stillAuthorized: async () => true,
      checkEveryMs: 5,
      now: () => clock,
      onEnd: (reason) => ends.push(reason),
    });
    const body = readAll(guarded);
    clock = 2_000;
    await body;
    assert.deepEqual(ends, ['expired']);
    assert.equal(upstream.cancelled, true);
  });

  it('refuses to start past the expiry', async () => {
    const upstream = upstreamStream();
    const guarded = guardListenStream(upstream.stream, {
      keepAliveMs: 0,
      expiresAt: 10,
      stillAuthorized: async () => true,
      checkEveryMs: 1000,
      now: () => 20,
    });
    assert.equal(await readAll(guarded), '');
  });

  it('sends keep-alive comments while quiet, and stops when the client leaves', async () => {
    const upstream = upstreamStream();
    const ends: ListenEnd[] = [];
    const guarded = guardListenStream(upstream.stream, {
      keepAliveMs: 5,
      expiresAt: undefined,
      stillAuthorized: async () => true,
      checkEveryMs: 1000,
      onEnd: (reason) => ends.push(reason),
    });
    const reader = guarded.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), ':\r\n\r\n');
    await reader.cancel();
    assert.deepEqual(ends, ['client-closed']);
    assert.equal(upstream.cancelled, true);
  });

  it('positive control: passes the upstream through until it ends', async () => {
    const upstream = upstreamStream();
    const ends: ListenEnd[] = [];
    const guarded = guardListenStream(upstream.stream, {
      keepAliveMs: 0,
      expiresAt: undefined,
      stillAuthorized: async () => true,
      checkEveryMs: 1000,
      onEnd: (reason) => ends.push(reason),
    });
    upstream.push('data: 1\n\n');
    upstream.push('data: 2\n\n');
    upstream.end();
    assert.equal(await readAll(guarded), 'data: 1\n\ndata: 2\n\n');
    assert.deepEqual(ends, ['upstream-ended']);
  });
});
