import { KEY_PUBLISH_LEAD_MS, rotateSigningKeys } from '../../authorization-server/index.ts';
import { openStore } from '../../store/index.ts';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.ts';
import { loadOperatorConfig } from '../operator-io.ts';
import { parseFlags, usageError } from '../parse-flags.ts';

export const KEYS_HELP = `Usage: portcullis keys rotate --config FILE
       portcullis keys rotate          (where the quickstart keeps ./data)

Rotate the signing key of the co-located authorization server. The new key is published at
once and signs from ${KEY_PUBLISH_LEAD_MS / 60_000} minutes later, so verifiers that cache the key set see it
before its first token; the current key keeps verifying until its last token has expired.
A running server picks the change up from the store within 30 seconds.

Options:
  --config FILE   YAML config (its store block says where the keys live).
  -h, --help      Show this help.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.`;

export async function keysCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(KEYS_HELP);
    return sub === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (sub !== 'rotate')
    throw usageError('keys', `unknown subcommand "${sub}" (did you mean rotate?)`);
  const { values } = parseFlags('keys rotate', rest, {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(KEYS_HELP);
    return EXIT_OK;
  }
  const loaded = loadOperatorConfig('keys rotate', values.config, io);
  const store = openStore(loaded, io.cwd);
  try {
    const as = loaded.config.authorization_server;
    const result = await rotateSigningKeys(store, {
      alg: as.signing_algorithm,
      now: Date.now(),
      accessTokenTtlMs: as.access_token_ttl_seconds * 1000,
    });
    const at = (ms: number) => new Date(ms).toISOString();
    io.stdout(
      `new key ${result.kid} (${result.alg}) is published now and signs from ${at(result.activatesAt)}`,
    );
    for (const old of result.retiring) {
      io.stdout(
        `key ${old.kid} stops signing at ${at(old.retiresAt)} and leaves the key set at ${at(old.expiresAt)}`,
      );
    }
  } finally {
    await store.close();
  }
  return EXIT_OK;
}
