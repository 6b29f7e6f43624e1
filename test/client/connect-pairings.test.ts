import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client as ModernClient } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdio } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  ElicitRequestSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { type ChildServer, startEverythingHttp } from '../helpers/child-servers.ts';
import { CLI_ENTRY } from '../helpers/cli.ts';
import { type RecordingProxy, startRecordingProxy } from '../helpers/recording-proxy.ts';
import { type ModernOnlyServer, startModernOnlyServer } from './helpers/modern-only-server.ts';

/**
 * `portcullis connect` bridges any pair of eras: a 2025 local client (the official SDK 1.x, it
 * opens with `initialize`) or a 2026-07-28 one (SDK 2.x, `_meta` on every request, no
 * handshake), to a 2025 remote (server-everything, sessions and server-to-client requests) or a
 * 2026-07-28-only remote (SDK 2.x server that refuses `initialize`, `input_required` for
 * questions). Each pairing lists, calls, relays progress, answers an elicitation and cancels.
 */

interface Progress {
  progress: number;
  total?: number;
}

/** What the tests need of a local client, whichever SDK generation. */
interface Local {
  listTools(): Promise<string[]>;
  call(
    name: string,
    args: Record<string, unknown>,
    options?: { signal?: AbortSignal; onprogress?: (progress: Progress) => void },
  ): Promise<string>;
  close(): Promise<void>;
}

const text = (result: unknown) =>
  (
    ((result as { content?: { type: string; text?: string }[] }).content ?? []) as {
      text?: string;
    }[]
  )
    .map((part) => part.text ?? '')
    .join('\n');

const connectArgs = (url: string) => [CLI_ENTRY, 'connect', url, '--header', 'X-Test: pairing'];
const env = { PATH: process.env.PATH ?? '' };

async function legacyLocal(url: string, answer: Record<string, unknown>): Promise<Local> {
  const client = new LegacyClient(
    { name: 'desktop-2025', version: '1.0.0' },
    { capabilities: { elicitation: {} } },
  );
  client.setRequestHandler(ElicitRequestSchema, async () => ({
    action: 'accept',
    content: answer as Record<string, string>,
  }));
  await client.connect(
    new LegacyStdio({ command: process.execPath, args: connectArgs(url), env, stderr: 'ignore' }),
  );
  return {
    listTools: async () => (await client.listTools()).tools.map((tool) => tool.name),
    call: async (name, args, options = {}) =>
      text(await client.callTool({ name, arguments: args }, undefined, options)),
    close: () => client.close(),
  };
}

/** A subclass probes the era in place (the SDK's own transport would spawn a second bridge). */
class InPlaceStdio extends ModernStdio {}

async function modernLocal(url: string, answer: Record<string, unknown>): Promise<Local> {
  const client = new ModernClient(
    { name: 'desktop-2026', version: '2.0.0' },
    {
      capabilities: { elicitation: {} },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    },
  );
  client.setRequestHandler('elicitation/create', async () => ({
    action: 'accept',
    content: answer as Record<string, string>,
  }));
  await client.connect(
    new InPlaceStdio({ command: process.execPath, args: connectArgs(url), env, stderr: 'ignore' }),
  );
  assert.equal(client.getProtocolEra(), 'modern', 'the bridge serves the 2026-07-28 client');
  return {
    listTools: async () => (await client.listTools()).tools.map((tool) => tool.name),
    call: async (name, args, options = {}) =>
      text(await client.callTool({ name, arguments: args }, options)),
    close: () => client.close(),
  };
}

/** Per remote: which tools exercise what, and how to see its side of a cancellation. */
interface Remote {
  readonly url: () => string;
  readonly echo: { tool: string; args: Record<string, unknown>; expect: RegExp };
  readonly progress: { tool: string; args: Record<string, unknown>; steps: number };
  readonly elicit: { tool: string; answer: Record<string, unknown>; expect: RegExp };
  readonly slow: { tool: string; args: Record<string, unknown> };
  /** Resolves once the remote has seen the cancellation. */
  readonly sawCancellation: (before: number) => Promise<void>;
  readonly cancellations: () => number;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (condition()) return;
    await sleep(25);
  }
  assert.fail(`gave up waiting: ${what}`);
}

describe('portcullis connect bridges both eras on both sides', () => {
  let everything: ChildServer;
  let proxy: RecordingProxy;
  let modern: ModernOnlyServer;

  before(async () => {
    everything = await startEverythingHttp();
    proxy = await startRecordingProxy(everything.url);
    modern = await startModernOnlyServer();
  });
  after(async () => {
    await proxy?.close();
    await everything?.stop();
    await modern?.close();
  });

  const cancelledNotices = () =>
    proxy.requests.filter((request) => request.body.includes('"notifications/cancelled"')).length;

  const remotes: Record<'2025 remote (server-everything)' | '2026 remote (SDK 2 server)', Remote> =
    {
      '2025 remote (server-everything)': {
        url: () => proxy.url,
        echo: { tool: 'echo', args: { message: 'hi' }, expect: /^Echo: hi$/ },
        progress: {
          tool: 'trigger-long-running-operation',
          args: { duration: 0.3, steps: 3 },
          steps: 3,
        },
        elicit: {
          tool: 'trigger-elicitation-request',
          answer: { name: 'Ada Lovelace' },
          expect: /Ada Lovelace/,
        },
        slow: { tool: 'trigger-long-running-operation', args: { duration: 60, steps: 600 } },
        sawCancellation: (count) =>
          until(() => cancelledNotices() > count, 'notifications/cancelled at the remote'),
        cancellations: cancelledNotices,
      },
      '2026 remote (SDK 2 server)': {
        url: () => modern.url,
        echo: { tool: 'echo', args: { text: 'hi' }, expect: /^echo: hi$/ },
        progress: { tool: 'progress', args: { steps: 3 }, steps: 3 },
        elicit: { tool: 'ask', answer: { colour: 'teal' }, expect: /^colour: teal$/ },
        slow: { tool: 'wait', args: {} },
        sawCancellation: (count) =>
          until(() => modern.cancelled() > count, 'the wait tool saw its cancellation'),
        cancellations: () => modern.cancelled(),
      },
    };

  const locals = {
    '2025 local client (SDK 1)': legacyLocal,
    '2026 local client (SDK 2)': modernLocal,
  } as const;

  for (const [localName, makeLocal] of Object.entries(locals)) {
    for (const [remoteName, remote] of Object.entries(remotes)) {
      describe(`${localName} ↔ ${remoteName}`, () => {
        let local: Local;
        before(async () => {
          local = await makeLocal(remote.url(), remote.elicit.answer);
        });
        after(async () => {
          await local?.close();
        });

        it('lists the remote tools', async () => {
          const tools = await local.listTools();
          for (const tool of [remote.echo.tool, remote.progress.tool, remote.elicit.tool]) {
            assert.ok(tools.includes(tool), `${tool} in ${tools.join(', ')}`);
          }
        });

        it('calls a tool and gets its result', async () => {
          assert.match(await local.call(remote.echo.tool, remote.echo.args), remote.echo.expect);
        });

        it('relays progress notifications to the local client', async () => {
          const seen: Progress[] = [];
          await local.call(remote.progress.tool, remote.progress.args, {
            onprogress: (progress) => seen.push(progress),
          });
          // In order and for this request; the SDKs may finish the call before dispatching the
          // last notification that preceded its result, so the tail can be cut short.
          const values = seen.map((p) => p.progress);
          assert.ok(values.length >= 1, 'at least one progress notification');
          assert.deepEqual(
            values,
            Array.from({ length: values.length }, (_, i) => i + 1),
          );
          assert.ok(values.length <= remote.progress.steps);
        });

        it('round-trips an elicitation: the remote asks, the local client answers', async () => {
          assert.match(await local.call(remote.elicit.tool, {}), remote.elicit.expect);
        });

        it('cancels: the local client aborts, the remote sees the cancellation', async () => {
          const before = remote.cancellations();
          const abort = new AbortController();
          let progressed: () => void = () => undefined;
          const started = new Promise<void>((resolve) => {
            progressed = resolve;
          });
          const call = local.call(remote.slow.tool, remote.slow.args, {
            signal: abort.signal,
            onprogress: () => progressed(),
          });
          call.catch(() => undefined);
          // The remote is working on it: a progress event (2025) or the tool started (2026).
          await Promise.race([
            started,
            remote === remotes['2026 remote (SDK 2 server)'] ? modern.waiting() : started,
          ]);
          abort.abort();
          await assert.rejects(call);
          await remote.sawCancellation(before);
        });
      });
    }
  }

  it('subscriptions/listen: a tool added at the 2026 remote is announced to a 2025 local client', async () => {
    const client = new LegacyClient(
      { name: 'desktop-2025', version: '1.0.0' },
      { capabilities: {} },
    );
    let announced: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => {
      announced = resolve;
    });
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => announced());
    await client.connect(
      new LegacyStdio({
        command: process.execPath,
        args: connectArgs(modern.url),
        env,
        stderr: 'ignore',
      }),
    );
    try {
      const before = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(!before.includes('late_tool'));
      modern.addTool('late_tool');
      await changed;
      const after = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(after.includes('late_tool'), after.join(', '));
      assert.ok(modern.requests.some((r) => r.method === 'subscriptions/listen'));
    } finally {
      await client.close();
    }
  });

  it('the 2026-only remote never saw initialize, and saw MCP-Method on every request', () => {
    assert.ok(modern.requests.length > 0);
    assert.ok(!modern.requests.some((request) => request.method === 'initialize'));
    for (const request of modern.requests.filter((r) => r.request)) {
      assert.equal(request.mcpMethod, request.method, JSON.stringify(request));
      assert.equal(request.version, '2026-07-28', JSON.stringify(request));
    }
  });
});
