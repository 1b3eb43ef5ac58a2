import { z } from '@hono/zod-openapi';
import { QUEUE_NAME_RE } from '../../lib/queue/queue-backend';
import { CURSOR, LIMIT } from './common';

export const DlqQuery = z.strictObject({
  type: z.string().min(1).max(200).optional(),
  queue: z.string().min(1).max(64).optional(),
  limit: LIMIT,
  cursor: CURSOR,
});

export const BulkReplaySchema = z
  .strictObject({
    ids: z.array(z.uuid()).min(1).max(1000).optional(),
    type: z.string().min(1).max(200).optional(),
    queue: z.string().regex(QUEUE_NAME_RE).optional(),
  })
  .refine((b) => b.ids !== undefined || b.type !== undefined || b.queue !== undefined, {
    error: 'name the tasks to replay: ids, type or queue (an empty filter would replay everything)',
  })
  .openapi('BulkReplay', { description: 'Which dead tasks to replay: at least one of ids, type, queue.' });

export const ReplayedSchema = z
  .object({ replayed: z.int(), limit: z.int().openapi({ description: 'Most replayed by one call.' }) })
  .openapi('Replayed');
