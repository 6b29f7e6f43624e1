import { verifyAuditTrail } from '../../audit/index.ts';
import { type CliIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const AUDIT_HELP = `Usage: portcullis audit verify PATH

Check the hash chain of an audit trail. PATH is an audit file; when rotated siblings exist
(PATH.1, PATH.2, …) the whole set is checked in order, the chain running across files.
Prints the number of records checked, or the first broken record (file, line and why).

Options:
  -h, --help   Show this help.

Exit codes: 0 intact, 1 broken (or unreadable), 2 usage error.`;

export async function auditCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(AUDIT_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub !== 'verify')
    throw usageError('audit', `unknown subcommand "${sub}" (did you mean verify?)`);
  const { values, positionals } = parseFlags(
    'audit verify',
    rest,
    { help: { type: 'boolean', short: 'h', default: false } },
    1,
  );
  if (values.help) {
    io.stdout(AUDIT_HELP);
    return EXIT_OK;
  }
  const path = positionals[0];
  if (path === undefined) throw usageError('audit verify', 'PATH is required');
  let result: ReturnType<typeof verifyAuditTrail>;
  try {
    result = verifyAuditTrail(path);
  } catch (error) {
    io.stderr(
      `portcullis: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
    return EXIT_FAILURE;
  }
  const files = `${result.files.length} file${result.files.length === 1 ? '' : 's'}`;
  if (!result.ok && result.firstBroken) {
    const { file, line, problem } = result.firstBroken;
    io.stderr(
      `audit trail BROKEN at ${file}:${line}: ${problem} (${result.records} records intact before it, ${files})`,
    );
    return EXIT_FAILURE;
  }
  const anchor = result.anchored
    ? 'from the first record'
    : 'from a rotated-out record (older files absent)';
  io.stdout(`audit trail intact: ${result.records} records in ${files}, chained ${anchor}`);
  return EXIT_OK;
}
