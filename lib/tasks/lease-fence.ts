import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';

/**
 * The fence every outcome write carries: the row still runs under the lease epoch this
 * writer's claim raised. A worker that lost its claim (another took the task over and raised
 * the epoch again) changes nothing. Written once here, as text for the prepared statements
 * and as SQL for the others.
 */
export function leaseFenceText(alias: string, epoch: string): string {
  return `${alias}.lease_epoch = ${epoch} AND ${alias}.status = 'running'`;
}

/** The fence on one lease epoch (an integer read from the database, so safe to inline). */
export function leaseFence(alias: string, epoch: number): SQL {
  if (!Number.isSafeInteger(epoch)) throw new Error(`not a lease epoch: ${epoch}`);
  return sql.raw(leaseFenceText(alias, String(epoch)));
}
