import { z } from 'zod';
import { configSchema } from './schema.ts';

/** The subset of JSON Schema that z.toJSONSchema emits for our config. */
export interface JsonSchemaNode {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, JsonSchemaNode>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchemaNode;
  readonly additionalProperties?: boolean | JsonSchemaNode;
  readonly propertyNames?: JsonSchemaNode;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly minItems?: number;
}

let cached: JsonSchemaNode | undefined;

/** The config schema as JSON Schema (input side, so defaults show as defaults). */
export function configJsonSchema(): JsonSchemaNode {
  cached ??= z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchemaNode;
  return cached;
}

/** The object node at a key path, walking through arrays; undefined when not an object. */
export function objectNodeAt(path: readonly PropertyKey[]): JsonSchemaNode | undefined {
  let node: JsonSchemaNode | undefined = configJsonSchema();
  for (const part of path) {
    if (node === undefined) return undefined;
    if (typeof part === 'number') node = node.items;
    else node = node.properties?.[String(part)];
  }
  return node?.properties ? node : undefined;
}
