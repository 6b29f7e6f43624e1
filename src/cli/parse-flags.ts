import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../errors/index.ts';
import { closestMatch } from '../lib/did-you-mean.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing: an unknown flag, a missing value or a stray argument is a usage error
 * (exit 2) that names the flag and suggests the closest known one.
 */
export function parseFlags<T extends Options>(
  command: string,
  args: readonly string[],
  options: T,
  maxPositionals = 0,
) {
  try {
    const parsed = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: maxPositionals > 0,
    });
    if (parsed.positionals.length > maxPositionals) {
      throw usageError(command, `unexpected argument "${parsed.positionals[maxPositionals]}"`);
    }
    return parsed;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const unknown = /Unknown option '([^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) {
      const known = Object.keys(options).map((name) => `--${name}`);
      const hint = closestMatch(unknown, known);
      throw usageError(command, `unknown flag ${unknown}${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
    const stray = /Unexpected argument '([^']+)'/.exec(message)?.[1];
    if (stray !== undefined) throw usageError(command, `unexpected argument "${stray}"`);
    throw usageError(command, message.split('\n')[0] ?? message);
  }
}

export function usageError(command: string, message: string): ConfigError {
  return new ConfigError('UsageError', [
    { path: command, message, fix: `run: portcullis ${command ? `${command} ` : ''}--help` },
  ]);
}
