import type { CliIo } from './io.ts';
import { usageError } from './parse-flags.ts';

export async function connectMany(_file: string, _values: unknown, _io: CliIo): Promise<number> {
  throw usageError('connect', '--config is not implemented yet');
}
