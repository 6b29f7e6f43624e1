/**
 * Shared fast-check pieces for the parser fuzz tests: modest run counts (npm test stays fast),
 * a fixed seed unless FUZZ_SEED is set (a failure reproduces), and what "a clean refusal" means.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, RequestError } from '../../src/errors/index.ts';

export const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

export function fuzzOptions(runs = RUNS): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED;
  return { numRuns: runs, ...(seed === undefined ? {} : { seed: Number(seed) }) };
}

/** A refusal the caller turns into a precise 4xx: a catalogued RequestError below 500. */
export function assertCleanRefusal(error: unknown, context: string): void {
  assert.ok(
    error instanceof RequestError,
    `${context}: expected a RequestError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
  assert.ok(error.status >= 400 && error.status < 500, `${context}: status ${error.status}`);
}

/** A typed configuration error (exit code and message for a person), never a crash. */
export function assertConfigRefusal(error: unknown, context: string): void {
  assert.ok(
    error instanceof ConfigError,
    `${context}: expected a ConfigError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
}

/** Strings that stress parsers: any unicode, lone surrogates, control characters, long runs. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\uFEFF',
    '\uD800',
    '"',
    '\\',
    '=',
    ',',
    ';',
    '%',
    '%00',
    '%zz',
  ),
  fc
    .tuple(fc.constantFrom('[', '{', '"', '\\', ',', ' ', '='), fc.integer({ min: 1, max: 5000 }))
    .map(([unit, count]) => unit.repeat(count)),
);

/** base64url-ish segments, canonical or not. */
export const segment = fc.oneof(
  fc.string({
    unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
    maxLength: 120,
  }),
  fc
    .jsonValue({ maxDepth: 4 })
    .map((value) => Buffer.from(JSON.stringify(value) ?? '').toString('base64url')),
  fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
  nastyString,
);
