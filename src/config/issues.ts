import type { z } from 'zod';
import type { ConfigIssue } from '../errors/index.ts';
import { closestMatch } from '../lib/did-you-mean.ts';
import { objectNodeAt } from './json-schema.ts';
import { formatKeyPath } from './key-path.ts';

/** Decides whether the value at a key path may be shown in a message. */
export type IsSensitive = (keyPath: string) => boolean;

type ZodIssue = z.core.$ZodIssue;
type Translate<C extends ZodIssue['code']> = (
  issue: Extract<ZodIssue, { code: C }>,
  keyPath: string,
  found: string,
) => ConfigIssue[];

const unrecognizedKeys: Translate<'unrecognized_keys'> = (issue) => {
  const known = Object.keys(objectNodeAt(issue.path)?.properties ?? {});
  return issue.keys.map((key) => {
    const hint = closestMatch(key, known);
    return {
      path: formatKeyPath([...issue.path, key]),
      message: 'unknown key',
      fix: hint
        ? `did you mean "${hint}"?`
        : `remove it; keys allowed here: ${known.join(', ') || '(none)'}`,
    };
  });
};

const invalidType: Translate<'invalid_type'> = (issue, keyPath, found) => [
  issue.input === undefined
    ? { path: keyPath, message: 'is required', fix: `set ${keyPath} (a ${issue.expected})` }
    : {
        path: keyPath,
        message: `expected ${issue.expected}, found ${found}`,
        fix: `set ${keyPath} to a ${issue.expected}`,
      },
];

const outOfRange = (
  issue: Extract<ZodIssue, { code: 'too_small' | 'too_big' }>,
  keyPath: string,
  found: string,
): ConfigIssue[] => {
  const small = issue.code === 'too_small';
  const limit = small ? issue.minimum : issue.maximum;
  const isArray = issue.origin === 'array';
  let message = issue.message;
  if (isArray && small && Number(limit) === 1) message = 'must not be empty';
  else if (message.startsWith('Too ')) {
    const inclusive = issue.inclusive !== false;
    const relation = small
      ? inclusive
        ? 'at least'
        : 'greater than'
      : inclusive
        ? 'at most'
        : 'less than';
    message = `must be ${relation} ${String(limit)}${isArray ? ' items' : ''}`;
  }
  const fix =
    issue.origin === 'number'
      ? `set a ${small ? 'larger' : 'smaller'} number`
      : 'see docs/configuration.md for what this key takes';
  return [{ path: keyPath, message: `${message}, found ${found}`, fix }];
};

const invalidValue: Translate<'invalid_value'> = (issue, keyPath, found) => [
  {
    path: keyPath,
    message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${found}`,
    fix: 'pick one of the listed values',
  },
];

const custom: Translate<'custom'> = (issue, keyPath, found) => {
  const fix = (issue.params as { fix?: unknown } | undefined)?.fix;
  return [
    {
      path: keyPath,
      message: `${issue.message}, found ${found}`,
      ...(typeof fix === 'string' ? { fix } : {}),
    },
  ];
};

const generic = (issue: ZodIssue, keyPath: string, found: string): ConfigIssue[] => [
  {
    path: keyPath,
    message: `${issue.message.replace(/^Invalid string: /, '')}, found ${found}`,
    fix: 'see docs/configuration.md for what this key takes',
  },
];

/** Turns zod's issues into ours: key path, what was found, how to fix it. */
export function toConfigIssues(error: z.ZodError, isSensitive: IsSensitive): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const keyPath = formatKeyPath(issue.path);
    const found = describeFound(issue.input, isSensitive(keyPath));
    switch (issue.code) {
      case 'unrecognized_keys':
        return unrecognizedKeys(issue, keyPath, found);
      case 'invalid_type':
        return invalidType(issue, keyPath, found);
      case 'too_small':
      case 'too_big':
        return outOfRange(issue, keyPath, found);
      case 'invalid_value':
        return invalidValue(issue, keyPath, found);
      case 'custom':
        return custom(issue, keyPath, found);
      default:
        return generic(issue, keyPath, found);
    }
  });
}

/** A short rendering of a found value; secrets (expanded from the environment) never shown. */
export function describeFound(value: unknown, sensitive: boolean): string {
  if (value === undefined) return 'nothing';
  if (sensitive) return '<redacted>';
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : `a list of ${value.length}`;
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
