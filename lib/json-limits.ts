import type { FieldProblem } from './errors';

export interface JsonLimits {
  /** Deepest nesting of objects and arrays. */
  maxDepth: number;
  /** Most values (object members and array items) in the whole document. */
  maxNodes: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxNodes: 200_000 };

const UNPAIRED = 'must not contain an unpaired UTF-16 surrogate (half a character, e.g. \\ud83d alone)';

/**
 * Finds what a parsed JSON document must not contain before it reaches PostgreSQL: nesting
 * deeper than `maxDepth`, more than `maxNodes` values, and NUL characters or unpaired
 * surrogates (text and jsonb reject them) in strings or keys. Iterative, so a hostile document cannot exhaust the stack.
 */
export function findJsonProblems(
  value: unknown,
  basePath: string,
  limits = DEFAULT_JSON_LIMITS,
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: basePath, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0 && problems.length < 20) {
    const { v, path, depth } = stack.pop()!;
    if (++nodes > limits.maxNodes) {
      problems.push({ path: basePath, message: `has more than ${limits.maxNodes} values` });
      break;
    }
    if (typeof v === 'string') {
      if (v.includes('\u0000')) problems.push({ path, message: 'must not contain NUL (\\u0000) characters' });
      if (!v.isWellFormed()) problems.push({ path, message: UNPAIRED });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limits.maxDepth) {
      problems.push({ path, message: `is nested deeper than ${limits.maxDepth} levels` });
      continue;
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
    } else {
      for (const key of Object.keys(v)) {
        if (key.includes('\u0000')) {
          problems.push({ path, message: 'has a key containing NUL (\\u0000)' });
          continue;
        }
        if (!key.isWellFormed()) {
          problems.push({ path, message: 'has a key with an unpaired UTF-16 surrogate (half a character)' });
          continue;
        }
        stack.push({ v: (v as Record<string, unknown>)[key], path: `${path}.${key}`, depth: depth + 1 });
      }
    }
  }
  return problems;
}

/** JSON with object keys sorted, so equal documents hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}
