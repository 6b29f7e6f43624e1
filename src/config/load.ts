import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors/index.ts';
import { type DeepReadonly, deepFreeze } from '../lib/deep-freeze.ts';
import { type Derived, derive } from './derive.ts';
import { expandEnv } from './env.ts';
import { toConfigIssues } from './issues.ts';
import { checkRules, type Secrets } from './rules.ts';
import { type Config, configSchema } from './schema.ts';

/** A configuration that passed every check. Everything in it is frozen. */
export interface LoadedConfig {
  readonly source: string;
  readonly config: DeepReadonly<Config>;
  readonly derived: DeepReadonly<Derived>;
  readonly secrets: Secrets;
  /** Key paths whose values are secret (expanded from the environment, headers, child env). */
  readonly sensitivePaths: ReadonlySet<string>;
}

export interface LoadOptions {
  /** Shown in messages; usually the file path. */
  readonly source?: string;
  /** Where ${NAME} and *_env keys are read from. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Command-line overrides, applied before validation so every rule sees them. */
  readonly overrides?: { readonly bindAddress?: string };
}

const ALWAYS_SENSITIVE = /^upstreams\[\d+\]\.(headers|env|credentials\.headers)(\.|\[|$)/;

/** Reads and validates a YAML config file. Throws ConfigError listing every problem. */
export function loadConfigFile(
  path: string,
  options: Omit<LoadOptions, 'source'> = {},
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new ConfigError(
      'ConfigUnreadable',
      [
        {
          path: '',
          message: `${path} ${reason}`,
          fix: 'pass --config with the path of a YAML file',
        },
      ],
      { source: path, cause: error },
    );
  }
  return loadConfigText(text, { ...options, source: path });
}

/** Validates YAML text as a config. Throws ConfigError listing every problem. */
export function loadConfigText(text: string, options: LoadOptions = {}): LoadedConfig {
  const source = options.source ?? '<config>';
  const env = options.env ?? process.env;

  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    throw new ConfigError(
      'ConfigSyntax',
      document.errors.map((error) => {
        const at = lineCounter.linePos(error.pos[0]);
        return {
          path: `line ${at.line}, column ${at.col}`,
          message: error.message.split('\n')[0] ?? 'invalid YAML',
          fix: 'fix the YAML syntax (indentation, quoting, duplicate keys)',
        };
      }),
      { source },
    );
  }
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // The yaml library refuses alias expansion past maxAliasCount ("billion laughs").
    throw new ConfigError(
      'ConfigSyntax',
      [
        {
          path: '',
          message: error instanceof Error ? error.message : String(error),
          fix: 'write the values out instead of expanding YAML aliases this many times',
        },
      ],
      { source },
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(
      'ConfigInvalid',
      [
        {
          path: '',
          message: 'the file must hold a YAML mapping at the top level',
          fix: 'start with keys such as remote_mcp: and upstreams:',
        },
      ],
      { source },
    );
  }

  const expansion = expandEnv(raw, env);
  const sensitivePaths = expansion.expandedPaths;
  const isSensitive = (keyPath: string) =>
    sensitivePaths.has(keyPath) || ALWAYS_SENSITIVE.test(keyPath);
  const envIssuePaths = new Set(expansion.issues.map((issue) => issue.path));
  const issues: ConfigIssue[] = [...expansion.issues];

  const document_ = applyOverrides(expansion.value as Record<string, unknown>, options.overrides);
  const parsed = configSchema.safeParse(document_, { reportInput: true });
  if (!parsed.success) {
    // A value that failed to expand is already reported; its schema complaint would be noise.
    issues.push(
      ...toConfigIssues(parsed.error, isSensitive).filter(
        (issue) => !envIssuePaths.has(issue.path),
      ),
    );
    throw new ConfigError('ConfigInvalid', issues, { source });
  }

  const config = parsed.data;
  const derived = derive(config);
  const rules = checkRules(config, derived, env);
  issues.push(...rules.issues);
  if (issues.length > 0) throw new ConfigError('ConfigInvalid', issues, { source });

  return Object.freeze({
    source,
    config: deepFreeze(config),
    derived: deepFreeze(derived),
    secrets: rules.secrets,
    sensitivePaths: Object.freeze(new Set([...sensitivePaths])) as ReadonlySet<string>,
  });
}

function applyOverrides(
  document: Record<string, unknown>,
  overrides: LoadOptions['overrides'],
): Record<string, unknown> {
  if (overrides?.bindAddress === undefined) return document;
  const block = document.remote_mcp;
  const remoteMcp =
    block !== null && typeof block === 'object' && !Array.isArray(block) ? block : {};
  return { ...document, remote_mcp: { ...remoteMcp, bind_address: overrides.bindAddress } };
}

/** True when the value at this key path must be shown as `<redacted>`. */
export function isSensitivePath(
  loaded: Pick<LoadedConfig, 'sensitivePaths'>,
  keyPath: string,
): boolean {
  return loaded.sensitivePaths.has(keyPath) || ALWAYS_SENSITIVE.test(keyPath);
}
