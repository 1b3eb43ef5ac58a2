import { PermanentTaskError } from '../errors';
import { storableJson } from '../text';

/** Results larger than this (as JSON) are refused: the task row is not a blob store. */
export const MAX_RESULT_BYTES = 1_048_576;

/**
 * An executor's result as JSON text that PostgreSQL will store: NUL characters and unpaired
 * surrogates become U+FFFD (lib/text.ts) instead of failing the write forever. Not
 * serialisable (a cycle, a BigInt) or too large: a permanent failure of the task, said plainly.
 */
export function resultToJson(result: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(result === undefined ? null : result);
  } catch (err) {
    throw new PermanentTaskError(
      `The executor's result is not JSON-serialisable: ${err instanceof Error ? err.message : String(err)}`,
      'result_not_json',
    );
  }
  json ??= 'null';
  if (Buffer.byteLength(json, 'utf8') > MAX_RESULT_BYTES) {
    throw new PermanentTaskError(
      `The executor's result exceeds ${MAX_RESULT_BYTES} bytes as JSON.`,
      'result_too_large',
    );
  }
  return storableJson(json);
}
