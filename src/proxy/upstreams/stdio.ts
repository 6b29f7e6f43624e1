import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { Logger } from '../../lib/log.ts';

/**
 * One MCP server child process, spoken to over stdio (MCP transports: newline-delimited JSON-RPC
 * on stdin/stdout, logs on stderr). The child's environment is its configured `env` plus PATH and
 * nothing else: the gateway's own secrets never reach it. Commands and arguments come only from
 * the config file (MCP-15 in docs/security-cases.md); nothing in a request can change them.
 */

export interface StdioCommand {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string | undefined;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the child never answered anything: a start-up failure, for the backoff. */
  readonly beforeFirstMessage: boolean;
  readonly error?: Error;
}

/** Longest stdout line accepted from a child; beyond it the child is stopped. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Longest stderr line copied into the logs. */
const MAX_LOG_LINE = 2048;

/** The environment a child gets: only its configured variables, plus PATH (MCP-15, G3). */
export function childEnvironment(
  configured: Readonly<Record<string, string>>,
  gatewayEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = { ...configured };
  if (!Object.hasOwn(env, 'PATH') && gatewayEnv.PATH !== undefined) env.PATH = gatewayEnv.PATH;
  return env;
}

export class StdioChild {
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #logger: Logger;
  readonly #onMessage: (text: string) => void;
  readonly #exited: Promise<ExitInfo>;
  #stdoutBuffer = '';
  #stderrBuffer = '';
  #answered = false;
  #alive = true;
  #spawnError: Error | undefined;

  constructor(
    command: StdioCommand,
    options: { logger: Logger; onMessage: (text: string) => void },
  ) {
    this.#logger = options.logger.child({ upstream: command.name });
    this.#onMessage = options.onMessage;
    this.#process = spawn(command.command, [...command.args], {
      env: childEnvironment(command.env),
      cwd: command.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    this.#exited = new Promise((resolve) => {
      this.#process.once('close', (code, signal) => {
        this.#alive = false;
        resolve({
          code,
          signal,
          beforeFirstMessage: !this.#answered,
          ...(this.#spawnError === undefined ? {} : { error: this.#spawnError }),
        });
      });
    });
    this.#process.on('error', (error) => {
      this.#spawnError ??= error;
      this.#logger.error({ err: error }, 'upstream process failed');
    });
    this.#process.stdin.on('error', (error) => {
      this.#logger.warn({ err: error }, 'writing to the upstream process failed');
    });
    this.#process.stdout.setEncoding('utf8');
    this.#process.stdout.on('data', (chunk: string) => this.#readStdout(chunk));
    this.#process.stderr.setEncoding('utf8');
    this.#process.stderr.on('data', (chunk: string) => this.#readStderr(chunk));
    this.#process.stderr.on('end', () => this.#flushStderr());
    this.#logger.info({ pid: this.#process.pid }, 'upstream process started');
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Resolves when the process has exited and its pipes are closed. */
  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  /**
   * Writes one JSON-RPC message. JSON never has a raw line break inside a string, so the only
   * line breaks in valid JSON text are insignificant whitespace; they become spaces so that the
   * message stays one line and means the same thing.
   */
  send(text: string): boolean {
    if (!this.#alive || !this.#process.stdin.writable) return false;
    const line = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, ' ') : text;
    this.#process.stdin.write(`${line}\n`);
    return true;
  }

  /** Asks the child to stop: close stdin, then SIGTERM, then SIGKILL (MCP stdio shutdown). */
  async stop(graceMs = 2000): Promise<ExitInfo> {
    if (this.#alive) {
      this.#process.stdin.end();
      const timers: NodeJS.Timeout[] = [];
      timers.push(setTimeout(() => this.#signal('SIGTERM'), graceMs));
      timers.push(setTimeout(() => this.#signal('SIGKILL'), graceMs * 2));
      for (const timer of timers) timer.unref();
      const info = await this.#exited;
      for (const timer of timers) clearTimeout(timer);
      return info;
    }
    return this.#exited;
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#alive) this.#process.kill(signal);
  }

  #readStdout(chunk: string): void {
    this.#stdoutBuffer += chunk;
    let newline = this.#stdoutBuffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.#stdoutBuffer.slice(0, newline).replace(/\r$/, '');
      this.#stdoutBuffer = this.#stdoutBuffer.slice(newline + 1);
      if (line.trim() !== '') {
        this.#answered = true;
        this.#onMessage(line);
      }
      newline = this.#stdoutBuffer.indexOf('\n');
    }
    if (this.#stdoutBuffer.length > MAX_LINE_BYTES) {
      this.#logger.error('upstream process wrote an over-long line; stopping it');
      this.#stdoutBuffer = '';
      this.#signal('SIGKILL');
    }
  }

  #readStderr(chunk: string): void {
    this.#stderrBuffer += chunk;
    let newline = this.#stderrBuffer.indexOf('\n');
    while (newline !== -1) {
      this.#logStderr(this.#stderrBuffer.slice(0, newline));
      this.#stderrBuffer = this.#stderrBuffer.slice(newline + 1);
      newline = this.#stderrBuffer.indexOf('\n');
    }
    if (this.#stderrBuffer.length > MAX_LOG_LINE) {
      this.#logStderr(this.#stderrBuffer);
      this.#stderrBuffer = '';
    }
  }

  #flushStderr(): void {
    if (this.#stderrBuffer !== '') this.#logStderr(this.#stderrBuffer);
    this.#stderrBuffer = '';
  }

  #logStderr(line: string): void {
    const text = line.replace(/\r$/, '');
    if (text.trim() === '') return;
    this.#logger.info({ stderr: text.slice(0, MAX_LOG_LINE) }, 'upstream stderr');
  }
}
