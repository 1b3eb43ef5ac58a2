import { z } from 'zod';
import { PG_DUMP_FORMATS } from '../backup/retention';

/**
 * `{target, format?}`. A client names a configured target and never sends a connection
 * string: which databases can be dumped, and with which credentials, is the operator's
 * choice (BACKUP_TARGETS), not the submitter's.
 */
export function pgBackupPayload(targetNames: readonly string[]) {
  const known = new Set(targetNames);
  const listed = [...known].sort().join(', ');
  return z.strictObject({
    target: z
      .string()
      .min(1)
      .max(200)
      .refine((name) => known.has(name), {
        error: known.size
          ? `Unknown backup target; the configured targets are: ${listed}.`
          : 'No backup targets are configured (BACKUP_TARGETS is empty).',
      }),
    format: z.enum(PG_DUMP_FORMATS).default('custom'),
  });
}

export type PgBackupPayload = z.output<ReturnType<typeof pgBackupPayload>>;
