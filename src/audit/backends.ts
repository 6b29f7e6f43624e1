import { existsSync, mkdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { type FileHandle, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { type ChainState, checkLine, EMPTY_CHAIN } from './chain.ts';
import { rotatedSet } from './rotated-set.ts';

/** Where chained lines go. `append` writes the lines in order or rejects without reordering. */
export interface AuditBackend {
  /** The chain state to continue from (the last intact record already written). */
  resume(): ChainState;
  append(lines: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A JSONL file rotated by size: when the next line would take the active file past
 * `rotateBytes`, it is renamed to the next free `PATH.N` and a new file started. The chain runs
 * on across files, so `audit verify PATH` checks the whole set.
 */
export class FileAuditBackend implements AuditBackend {
  private readonly path: string;
  private readonly rotateBytes: number;
  private handle: FileHandle | undefined;
  private size = 0;
  private needsNewline = false;
  /** Identity of the open file, to compare with what is at the path. */
  private openIdentity: { ino: number; dev: number } | undefined;

  constructor(path: string, rotateBytes: number) {
    this.path = path;
    this.rotateBytes = rotateBytes;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }

  resume(): ChainState {
    const { rotated } = rotatedSet(this.path);
    const activeHasRecords = existsSync(this.path) && statSync(this.path).size > 0;
    this.size = existsSync(this.path) ? statSync(this.path).size : 0;
    const last = activeHasRecords ? this.path : rotated.at(-1);
    if (last === undefined) return EMPTY_CHAIN;
    const text = readFileSync(last, 'utf8');
    // A crash can leave a partial last line: keep it (verify reports it) and start on a new line.
    this.needsNewline = last === this.path && text.length > 0 && !text.endsWith('\n');
    const lines = text.split('\n');
    for (let index = lines.length - 1; index >= 0; index--) {
      const check = checkLine(lines[index] ?? '', undefined);
      if (check.ok) return check.state;
    }
    return EMPTY_CHAIN;
  }

  async append(lines: readonly string[]): Promise<void> {
    let chunk = this.needsNewline ? '\n' : '';
    let chunkBytes = Buffer.byteLength(chunk);
    for (const line of lines) {
      const bytes = Buffer.byteLength(line) + 1;
      if (this.size + chunkBytes > 0 && this.size + chunkBytes + bytes > this.rotateBytes) {
        await this.write(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await this.rotate();
      }
      chunk += `${line}\n`;
      chunkBytes += bytes;
    }
    await this.write(chunk, chunkBytes);
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  private async write(chunk: string, bytes: number): Promise<void> {
    if (bytes === 0) return;
    if (this.handle !== undefined && !(await this.stillAtPath())) await this.close();
    if (this.handle === undefined) {
      const handle = await open(this.path, 'a', 0o600);
      const opened = await handle.stat();
      this.size = opened.size;
      this.openIdentity = { ino: opened.ino, dev: opened.dev };
      this.handle = handle;
    }
    // One synchronous append per batch, on the writer's turn (never a request's): a few
    // kilobytes into the page cache cost microseconds, while the promise form's thread-pool
    // round trip and its callbacks cost more than the write itself under load. The file is
    // opened in append mode, so the kernel places every write at the end.
    writeSync(this.handle.fd, chunk, null, 'utf8');
    this.size += bytes;
    this.needsNewline = false;
  }

  /**
   * Whether the open file is still the one at the path. When the file was moved or deleted, or
   * its directory replaced, writing on through the old descriptor would fill a file nobody
   * sees while reporting success; instead the path is opened again, and when that fails the
   * sink knows it cannot write.
   */
  private async stillAtPath(): Promise<boolean> {
    try {
      // One stat of the path per batch, synchronous: a cached inode lookup costs microseconds,
      // while the promise form's thread-pool round trip was ~4% of gateway CPU under load.
      const atPath = statSync(this.path);
      return atPath.ino === this.openIdentity?.ino && atPath.dev === this.openIdentity.dev;
    } catch {
      return false;
    }
  }

  private async rotate(): Promise<void> {
    await this.close();
    const { numbers } = rotatedSet(this.path);
    await rename(this.path, `${this.path}.${(numbers.at(-1) ?? 0) + 1}`);
    this.size = 0;
  }
}

/** Lines to a stream (standard output), honouring backpressure. The chain restarts per process. */
export class StreamAuditBackend implements AuditBackend {
  private readonly stream: Writable;

  constructor(stream: Writable) {
    this.stream = stream;
  }

  resume(): ChainState {
    return EMPTY_CHAIN;
  }

  append(lines: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const ok = this.stream.write(`${lines.join('\n')}\n`, (error) => {
        if (error) reject(error);
        else if (ok) resolve();
      });
      if (!ok) this.stream.once('drain', () => resolve());
    });
  }

  async close(): Promise<void> {}
}
