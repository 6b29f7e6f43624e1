import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  AUDIT_EVENTS,
  type AuditBackend,
  type AuditEvent,
  AuditSink,
  createAuditSink,
  EMPTY_CHAIN,
  FileAuditBackend,
  redactArguments,
  rotatedSet,
  StreamAuditBackend,
  verifyAuditTrail,
} from '../../src/audit/index.ts';
import { renderAuditEventsReference } from '../../src/audit/reference-doc.ts';
import { REPO_ROOT, runCli, spawnCli, tempDir } from '../helpers/cli.ts';

const TOKEN =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6ImEifQ.eyJzdWIiOiJib2IiLCJqdGkiOiJqLTEifQ.c2lnLWJ5dGVzLXNlY3JldA';

function event(index: number): AuditEvent {
  return {
    event: index % 3 === 0 ? 'mcp.request.denied' : 'mcp.request.allowed',
    request_id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    session_id: 'session-1',
    subject: 'alice',
    client_id: 'client-1',
    token_id_hash: 'a'.repeat(64),
    upstream: 'files',
    method: 'tools/call',
    tool: 'read_file',
    decision: index % 3 === 0 ? 'deny' : 'allow',
    ...(index % 3 === 0 ? { reason: 'AuthMissingScope' } : {}),
    required_scopes: ['files:read'],
    granted_scopes: ['files:read'],
    status: index % 3 === 0 ? 403 : 200,
    latency_ms: 1.25,
  };
}

async function writeTrail(count: number, rotateBytes: number): Promise<string> {
  const path = join(tempDir(), 'audit.jsonl');
  const sink = new AuditSink(new FileAuditBackend(path, rotateBytes));
  for (let i = 1; i <= count; i++) assert.equal(sink.record(event(i)), true);
  await sink.close();
  return path;
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

describe('audit trail: hash chain', () => {
  it('10,000 records with rotation every few hundred: exactly 10,000 records, chain verifies', async () => {
    const path = await writeTrail(10_000, 200_000);
    const { rotated } = rotatedSet(path);
    assert.ok(rotated.length >= 20, `rotated into ${rotated.length} files`);
    const perFile = rotated.map((file) => lines(file).length);
    assert.ok(Math.max(...perFile) < 1000, `at most a few hundred per file: ${perFile.join(',')}`);
    const total = [...rotated, path].reduce((sum, file) => sum + lines(file).length, 0);
    assert.equal(total, 10_000);
    const result = verifyAuditTrail(path);
    assert.deepEqual(
      {
        ok: result.ok,
        records: result.records,
        anchored: result.anchored,
        files: result.files.length,
      },
      { ok: true, records: 10_000, anchored: true, files: rotated.length + 1 },
    );
  });

  const tamperings: { name: string; tamper: (path: string) => void; line: number }[] = [
    {
      name: 'a flipped byte',
      tamper: (path) => {
        const text = readFileSync(path);
        const at = text.indexOf('"subject":"alice"', 0) + 12; // inside the first record
        text[at] = (text[at] ?? 0) ^ 0x01;
        writeFileSync(path, text);
      },
      line: 1,
    },
    {
      name: 'a flipped byte in the last record',
      tamper: (path) => {
        const all = lines(path);
        all[all.length - 1] = (all.at(-1) ?? '').replace('"alice"', '"alicf"');
        writeFileSync(path, `${all.join('\n')}\n`);
      },
      line: 20,
    },
    {
      name: 'a deleted line',
      tamper: (path) => {
        const all = lines(path);
        all.splice(4, 1);
        writeFileSync(path, `${all.join('\n')}\n`);
      },
      line: 5,
    },
    {
      name: 'two swapped lines',
      tamper: (path) => {
        const all = lines(path);
        [all[7], all[8]] = [all[8] ?? '', all[7] ?? ''];
        writeFileSync(path, `${all.join('\n')}\n`);
      },
      line: 8,
    },
    {
      name: 'an inserted copy of a line',
      tamper: (path) => {
        const all = lines(path);
        all.splice(10, 0, all[2] ?? '');
        writeFileSync(path, `${all.join('\n')}\n`);
      },
      line: 11,
    },
    {
      name: 'a partial last line',
      tamper: (path) => writeFileSync(path, `${readFileSync(path, 'utf8')}{"time":"2026`),
      line: 21,
    },
  ];
  for (const t of tamperings) {
    it(`audit verify detects ${t.name} and names the record`, async () => {
      const path = await writeTrail(20, 1_000_000);
      t.tamper(path);
      const result = verifyAuditTrail(path);
      assert.equal(result.ok, false);
      assert.equal(result.firstBroken?.line, t.line, result.firstBroken?.problem);
      const cli = await runCli(['audit', 'verify', path]);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, new RegExp(`BROKEN at .*audit\\.jsonl:${t.line}:`));
    });
  }

  it('detects a deleted line across a rotation boundary', async () => {
    const path = await writeTrail(300, 10_000);
    const [first] = rotatedSet(path).rotated;
    assert.ok(first);
    const all = lines(first);
    all.pop();
    writeFileSync(first, `${all.join('\n')}\n`);
    const result = verifyAuditTrail(path);
    assert.equal(result.ok, false);
    assert.match(result.firstBroken?.file ?? '', /audit\.jsonl\.2$/);
    assert.equal(result.firstBroken?.line, 1);
  });

  it('positive control: an untouched rotated set passes (real process)', async () => {
    const path = await writeTrail(500, 20_000);
    assert.ok(rotatedSet(path).rotated.length > 1);
    const result = spawnCli(['audit', 'verify', path]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /intact: 500 records in \d+ files, chained from the first record/);
    // Any member of the set names the same set.
    assert.equal(verifyAuditTrail(`${path}.1`).records, 500);
  });
});

describe('audit sink', () => {
  it('continues the chain across restarts', async () => {
    const path = join(tempDir(), 'audit.jsonl');
    const first = new AuditSink(new FileAuditBackend(path, 1_000_000));
    for (let i = 1; i <= 5; i++) first.record(event(i));
    await first.close();
    const second = new AuditSink(new FileAuditBackend(path, 1_000_000));
    for (let i = 6; i <= 9; i++) second.record(event(i));
    await second.close();
    const result = verifyAuditTrail(path);
    assert.deepEqual([result.ok, result.records], [true, 9]);
  });

  it('a crash mid-record is reported, and later records start on a new line', async () => {
    const path = await writeTrail(3, 1_000_000);
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"time":"partial`);
    const sink = new AuditSink(new FileAuditBackend(path, 1_000_000));
    sink.record(event(4));
    await sink.close();
    const all = readFileSync(path, 'utf8').split('\n');
    assert.equal(all[3], '{"time":"partial');
    assert.match(all[4] ?? '', /"seq":4,/);
    assert.equal(verifyAuditTrail(path).firstBroken?.line, 4);
  });

  it('when the file cannot be written: unhealthy, nothing lost, recovery recorded', async () => {
    const dir = tempDir();
    const failing = new AuditSink(new FileAuditBackend(join(dir, 'x', 'audit.jsonl'), 1_000_000), {
      retryMs: 20,
      maxQueued: 50,
    });
    rmSync(join(dir, 'x'), { recursive: true });
    writeFileSync(join(dir, 'x'), 'blocks the directory');
    for (let i = 1; i <= 10; i++) assert.equal(failing.record(event(i)), true);
    assert.equal(await failing.flush(), false);
    assert.equal(failing.healthy, false);
    assert.match(failing.status().lastError ?? '', /ENOTDIR|EEXIST|not a directory/i);
    assert.equal(failing.status().queued, 10, 'records are kept while failing');
    // Fill the queue: the sink refuses and counts what it could not take.
    for (let i = 11; i <= 60; i++) failing.record(event(i));
    assert.equal(failing.record(event(61)), false);
    assert.equal(failing.status().dropped, 11);
    // The directory comes back: the retry writes everything, then a recovery record.
    rmSync(join(dir, 'x'));
    mkdirSync(join(dir, 'x'));
    for (let attempt = 0; attempt < 100 && !failing.healthy; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(failing.healthy, true);
    await failing.close();
    const written = lines(join(dir, 'x', 'audit.jsonl'));
    assert.equal(written.length, 51);
    const recovered = JSON.parse(written.at(-1) ?? '{}') as { event: string; dropped: number };
    assert.deepEqual([recovered.event, recovered.dropped], ['audit.sink.recovered', 11]);
    assert.equal(verifyAuditTrail(join(dir, 'x', 'audit.jsonl')).ok, true);
  });

  it('a file moved away (log rotation by another tool) is noticed: writing goes on at the path', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.jsonl');
    const sink = new AuditSink(new FileAuditBackend(path, 1_000_000));
    for (let i = 1; i <= 3; i++) sink.record(event(i));
    assert.equal(await sink.flush(), true);
    renameSync(path, join(dir, 'moved.jsonl'));
    for (let i = 4; i <= 5; i++) sink.record(event(i));
    await sink.close();
    assert.equal(lines(join(dir, 'moved.jsonl')).length, 3);
    assert.deepEqual(
      lines(path).map((line) => (JSON.parse(line) as { seq: number }).seq),
      [4, 5],
      'the chain continues in the new file',
    );
  });

  it('a full queue refuses records, then records the gap once there is room', async () => {
    let release: () => void = () => {};
    const written: string[] = [];
    let blocked = true;
    const slow: AuditBackend = {
      resume: () => EMPTY_CHAIN,
      append: async (batch) => {
        if (blocked)
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        written.push(...batch);
      },
      close: async () => {},
    };
    const sink = new AuditSink(slow, { maxQueued: 5 });
    for (let i = 1; i <= 5; i++) assert.equal(sink.record(event(i)), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sink.record(event(6)), false, 'the queue is full');
    assert.equal(sink.healthy, false);
    blocked = false;
    release();
    assert.equal(await sink.flush(), true);
    assert.equal(sink.healthy, true);
    const last = JSON.parse(written.at(-1) ?? '{}') as {
      event: string;
      dropped: number;
      reason: string;
    };
    assert.deepEqual(
      [last.event, last.dropped, last.reason],
      ['audit.sink.recovered', 1, 'queue full'],
    );
    assert.equal(written.length, 6);
  });

  it('the stdout sink writes the same chained records', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk) => {
      text += String(chunk);
    });
    const sink = createAuditSink(
      {
        path: 'unused',
        stdout: true,
        rotate_bytes: 1,
        max_queued_records: 10,
        on_write_failure: 'refuse',
      },
      { stdout: out },
    );
    sink.record(event(1));
    sink.record(event(2));
    await sink.close();
    const path = join(tempDir(), 'captured.jsonl');
    writeFileSync(path, text);
    assert.deepEqual([verifyAuditTrail(path).ok, verifyAuditTrail(path).records], [true, 2]);
    assert.ok(new StreamAuditBackend(out).resume().seq === 0);
  });

  it('records never contain a token, even in redacted tool arguments', async () => {
    const path = join(tempDir(), 'audit.jsonl');
    const sink = new AuditSink(new FileAuditBackend(path, 1_000_000));
    sink.record({
      ...event(1),
      arguments: redactArguments(
        {
          path: '/etc/motd',
          api_key: 'k-123',
          nested: { note: `use Bearer ${TOKEN}`, raw: TOKEN },
        },
        ['api_key'],
      ),
    });
    await sink.close();
    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes(TOKEN));
    assert.ok(!text.includes('k-123'));
    assert.match(text, /"path":"\/etc\/motd"/);
  });
});

describe('audit event catalogue', () => {
  it('names are <noun>.<verb>', () => {
    for (const name of Object.keys(AUDIT_EVENTS)) assert.match(name, /^[a-z]+(\.[a-z]+)+$/);
  });
  it('docs/audit-events.md is in sync (run `npm run docs`)', () => {
    assert.equal(
      readFileSync(join(REPO_ROOT, 'docs/audit-events.md'), 'utf8'),
      renderAuditEventsReference(),
    );
  });
  it('audit verify --help and usage errors', async () => {
    assert.equal((await runCli(['audit', 'verify', '--help'])).code, 0);
    assert.equal((await runCli(['audit', 'verify'])).code, 2);
    assert.equal((await runCli(['audit', 'check', 'x'])).code, 2);
    const missing = await runCli(['audit', 'verify', '/nonexistent/audit.jsonl']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ENOENT/);
  });
});
