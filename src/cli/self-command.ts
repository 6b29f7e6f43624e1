import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * How to run this very program from wherever the user stands. `npx portcullis` works only inside
 * the repository (elsewhere npx looks the name up on the registry), so: `portcullis` when that
 * name on PATH is this program, else `node <absolute path of the entry point>`.
 */
export function selfCommand(
  env: NodeJS.ProcessEnv,
  entry: string | undefined = process.argv[1],
): string {
  if (entry === undefined) return 'portcullis';
  let self: string;
  try {
    self = realpathSync(entry);
  } catch {
    return 'portcullis';
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'portcullis');
    try {
      accessSync(candidate, constants.X_OK);
      if (realpathSync(candidate) === self) return 'portcullis';
    } catch {
      // not there, or not this program
    }
  }
  return `node ${shellQuote(self)}`;
}

/** Single-quotes a path for POSIX shells when it has anything but safe characters. */
function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}
