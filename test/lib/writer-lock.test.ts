/**
 * One writer per audit trail and per SQLite store: a second process refuses to start, naming
 * the file and the process that holds it; a lock left by a process that died is taken over.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { lockSqliteStore } from '../../src/assembly/writer-locks.ts';
import { loadConfigText } from '../../src/config/index.ts';
import { acquireWriterLock, WriterLockHeld } from '../../src/lib/writer-lock.ts';
import { baseDocument } from '../authorization-server/harness.ts';
import {
  CLI_ENTRY,
  HMAC_SECRET,
  REPO_ROOT,
  spawnCliAsync,
  tempDir,
  tempFile,
} from '../helpers/cli.ts';
import { toYaml } from '../helpers/configs.ts';
import { gatewayDocument, stdioTestUpstream } from '../helpers/gateway.ts';

const LOCK_MODULE = join(REPO_ROOT, 'src/lib/writer-lock.ts');

/** Another process holding the writer lock of `file` until it is killed. */
async function holder(file: string): Promise<ChildProcess & { pid: number }> {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { acquireWriterLock } from ${JSON.stringify(LOCK_MODULE)};
       acquireWriterLock(process.env.LOCK_FILE, 'the test file');
       console.log('READY');
       setInterval(() => {}, 60_000);`,
    ],
    {
      env: { PATH: process.env.PATH ?? '', LOCK_FILE: file },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  if (child.pid === undefined) throw new Error('no pid');
  return child as ChildProcess & { pid: number };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

describe('writer locks', () => {
  it('a second process is refused with the file and the holder pid; a dead holder is taken over', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const child = await holder(file);
    try {
      assert.throws(
        () => acquireWriterLock(file, 'the audit trail'),
        (error: unknown) =>
          error instanceof WriterLockHeld &&
          error.holder.pid === child.pid &&
          error.message.includes(file) &&
          error.message.includes(`process ${child.pid}`) &&
          error.message.startsWith('the audit trail'),
      );
    } finally {
      // SIGKILL: no exit hook runs, the lock file stays behind, stale.
      await stop(child, 'SIGKILL');
    }
    assert.ok(existsSync(`${file}.lock`), 'the dead holder left its lock');
    const lock = acquireWriterLock(file, 'the audit trail');
    lock.release();
    assert.equal(existsSync(`${file}.lock`), false, 'released: the lock file is gone');
  });

  it('positive control: a holder that exits cleanly leaves no lock', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const child = await holder(file);
    await stop(child, 'SIGTERM');
    const lock = acquireWriterLock(file, 'the audit trail');
    lock.release();
  });

  it('takes the lock of a file whose directory does not exist yet, creating it owner-only', () => {
    const dir = join(tempDir(), 'fresh', 'data');
    const lock = acquireWriterLock(join(dir, 'audit.jsonl'), 'the audit trail');
    try {
      assert.ok(existsSync(join(dir, 'audit.jsonl.lock')));
      assert.equal(statSync(dir).mode & 0o777, 0o700);
    } finally {
      lock.release();
    }
    assert.equal(existsSync(join(dir, 'audit.jsonl.lock')), false);
  });

  it('a server on the same SQLite store is refused, naming the store', async () => {
    const dir = tempDir();
    const database = join(dir, 'portcullis.db');
    const child = await holder(database);
    try {
      const document = baseDocument(8080);
      Object.assign(document, {
        store: { sqlite: database },
        audit: { path: join(dir, 'a.jsonl') },
      });
      const loaded = loadConfigText(stringify(document), {
        env: { TEST_HMAC_SECRET: HMAC_SECRET, CONFIDENTIAL_SECRET: 'x'.repeat(32) },
      });
      assert.throws(
        () => lockSqliteStore(loaded, dir),
        /^WriterLockHeld: the SQLite store .*portcullis\.db is already being written by process \d+/,
      );
    } finally {
      await stop(child, 'SIGTERM');
    }
  });

  it('two `serve` processes on one audit trail: the second stops at once and says who holds it', async () => {
    const auditPath = join(tempDir(), 'audit.jsonl');
    const config = tempFile(
      'gateway.yaml',
      toYaml({
        ...gatewayDocument({ auth: 'none', upstreams: [stdioTestUpstream()] }),
        audit: { path: auditPath },
      }),
    );
    const env = { PORTCULLIS_LOG_LEVEL: 'error', TEST_HMAC_SECRET: HMAC_SECRET };
    const first = spawn(
      process.execPath,
      [CLI_ENTRY, 'serve', '--config', config, '--enable-remote-mcp'],
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        let text = '';
        first.stderr?.setEncoding('utf8');
        first.stderr?.on('data', (chunk: string) => {
          text += chunk;
          if (/serving http/.test(text)) resolve();
        });
        first.once('exit', () => reject(new Error(`serve exited: ${text}`)));
      });
      const second = await spawnCliAsync(['serve', '--config', config, '--enable-remote-mcp'], env);
      assert.equal(second.code, 1);
      assert.match(
        second.stderr,
        new RegExp(
          `the audit trail ${auditPath.replace(/[.]/g, '\\.')} is already being written by process ${first.pid}`,
        ),
      );
    } finally {
      await stop(first, 'SIGTERM');
    }
    const after = await spawnCliAsync(['serve', '--config', config, '--describe'], env);
    assert.equal(after.code, 0, 'positive control: --describe opens nothing and is not refused');
    const lock = acquireWriterLock(auditPath, 'the audit trail');
    lock.release();
  });
});
