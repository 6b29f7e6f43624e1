/**
 * The README's "On a fresh machine" section, followed as a new user would, with the quickstart's
 * port already taken: start → the ListenFailed message names the holder and a free --bind →
 * start again as the fix line says → the banner's own `call` command (run from another
 * directory, `--open print` as the README says for a machine without a browser) → sign in and
 * allow in Chromium → the tool's answer. Then `users add` in the quickstart directory, with no
 * environment. An ephemeral port stands in for 8080 (the README's `--bind`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { CHROMIUM, SKIP_WITHOUT_CHROMIUM } from '../helpers/browser-oauth.ts';
import { CLI_ENTRY, REPO_ROOT, tempDir } from '../helpers/cli.ts';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(
  README.indexOf('## On a fresh machine'),
  README.indexOf('\n## ', README.indexOf('## On a fresh machine') + 5),
);

/** The environment of a fresh shell: a PATH, a HOME, nothing of Portcullis's. */
function freshEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: home, PORTCULLIS_LOG_LEVEL: 'warn' };
}

async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function output(child: ChildProcess) {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  return { stdout: () => out, stderr: () => err };
}

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the README fresh-machine section, with the port taken', {
  skip: SKIP_WITHOUT_CHROMIUM,
}, () => {
  let browser: Browser;
  const children: ChildProcess[] = [];
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
  });
  after(async () => {
    await browser?.close();
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  });

  it('the README says how to start, change the port, call a tool and add a user', () => {
    assert.match(SECTION, /npm ci && npm start/);
    assert.match(SECTION, /Port 8080 taken\?/);
    assert.match(SECTION, /node src\/cli\/main\.ts serve --bind 127\.0\.0\.1:8081/);
    assert.match(SECTION, /node src\/cli\/main\.ts call http:\/\/127\.0\.0\.1:8080\/mcp echo/);
    assert.match(SECTION, /--open print/);
    assert.match(SECTION, /node src\/cli\/main\.ts users add alice/);
    assert.match(SECTION, /PORTCULLIS_LOG_LEVEL/);
  });

  it('follows the messages from a taken port to a working tool call', {
    timeout: 240_000,
  }, async () => {
    const quickstartDir = tempDir();
    const home = tempDir();
    const taken = await occupy();
    try {
      // 1. Start as the README says, on the (taken) port.
      const first = spawnSync(
        process.execPath,
        [CLI_ENTRY, 'serve', '--bind', `127.0.0.1:${taken.port}`],
        { cwd: quickstartDir, env: freshEnv(home), encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(first.status, 2, first.stderr);
      assert.match(first.stderr, /ListenFailed/);
      assert.match(
        first.stderr,
        new RegExp(`127\\.0\\.0\\.1:${taken.port} is already in use by process ${process.pid}\\b`),
      );
      const fix = /fix: .*?(\S+ serve --bind (127\.0\.0\.1:\d+))/.exec(first.stderr);
      assert.ok(fix, first.stderr);
      const bind = fix[2] ?? '';
      assert.notEqual(bind, `127.0.0.1:${taken.port}`);

      // 2. Start again as the fix line says.
      const served = spawn(process.execPath, [CLI_ENTRY, 'serve', '--bind', bind], {
        cwd: quickstartDir,
        env: freshEnv(home),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(served);
      const serveOut = output(served);
      await until('the banner', () => /Stop with Ctrl-C/.test(serveOut.stdout()));
      const banner = serveOut.stdout();
      const password = /Password:\s+(\S+) \(one-time/.exec(banner)?.[1];
      assert.ok(password, banner);
      const callLine = /^ {2}(.* call (http:\/\/\S+\/mcp) echo --args .*)$/m.exec(banner);
      assert.ok(callLine, banner);
      assert.equal(callLine[2], `http://${bind}/mcp`);
      assert.doesNotMatch(banner, /npx portcullis/, 'no command that works only inside the repo');

      // 3. The banner's call command, from another directory, with --open print.
      const elsewhere = tempDir();
      const call = spawn('bash', ['-c', `${callLine[1]} --open print`], {
        cwd: elsewhere,
        env: freshEnv(home),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(call);
      const callOut = output(call);
      await until('the sign-in URL', () =>
        /open this URL in a browser:\n\s+(\S+)/.test(callOut.stderr()),
      );
      const signIn = /open this URL in a browser:\n\s+(\S+)/.exec(callOut.stderr())?.[1] ?? '';

      // 4. Sign in and allow, as the banner says (admin and the one-time password).
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(signIn);
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/oauth\/consent\?/);
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForLoadState();
      await context.close();
      const [code] = (await once(call, 'exit')) as [number | null];
      assert.equal(code, 0, callOut.stderr());
      assert.match(callOut.stdout(), /hello/);

      // 5. Add a user where the quickstart runs, with no environment at all.
      const added = spawnSync(
        'bash',
        ['-c', `${(callLine[1] ?? '').replace(/ call .*$/, '')} users add alice`],
        { cwd: quickstartDir, env: freshEnv(home), encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(added.status, 0, added.stderr);
      assert.match(added.stdout, /created user alice/);
      assert.match(added.stdout, /password \(shown once\): \S+/);
    } finally {
      await new Promise((resolve) => taken.server.close(resolve));
    }
  });
});
