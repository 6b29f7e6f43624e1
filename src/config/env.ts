import type { ConfigIssue } from '../errors/index.ts';
import { formatKeyPath } from './key-path.ts';

/** `${NAME}` expands; `$${` is a literal `${`. */
const REFERENCE = /\$\$\{|\$\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface Expansion {
  readonly value: unknown;
  readonly issues: ConfigIssue[];
  /** Key paths whose string value came (partly) from the environment: treated as secret. */
  readonly expandedPaths: Set<string>;
}

/**
 * Expands `${NAME}` in every string of a parsed YAML document. A missing variable is an error
 * naming the key and the variable, never an empty string (an empty secret would fail open).
 */
export function expandEnv(document: unknown, env: NodeJS.ProcessEnv): Expansion {
  const issues: ConfigIssue[] = [];
  const expandedPaths = new Set<string>();

  const visit = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === 'string') return expandString(node, path);
    if (Array.isArray(node)) return node.map((item, index) => visit(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = visit(child, [...path, key]);
      return out;
    }
    return node;
  };

  const expandString = (text: string, path: PropertyKey[]): string => {
    if (!text.includes('${')) return text;
    const keyPath = formatKeyPath(path);
    let expanded = false;
    const result = text.replace(REFERENCE, (whole, name: string | undefined) => {
      if (whole === '$${') return '${';
      const trimmed = (name ?? '').trim();
      if (!ENV_NAME.test(trimmed)) {
        issues.push({
          path: keyPath,
          message: `\${${name ?? ''}} is not a valid environment variable reference`,
          fix: 'write ${NAME} with letters, digits and underscores, or $${ for a literal ${',
        });
        return '';
      }
      const value = env[trimmed];
      if (value === undefined) {
        issues.push({
          path: keyPath,
          message: `environment variable ${trimmed} is not set`,
          fix: `export ${trimmed}=… before starting, or remove the \${${trimmed}} reference`,
        });
        return '';
      }
      expanded = true;
      return value;
    });
    if (expanded) expandedPaths.add(keyPath);
    return result;
  };

  return { value: visit(document, []), issues, expandedPaths };
}
