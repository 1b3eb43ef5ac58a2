import { z } from '@hono/zod-openapi';
import { CURSOR, LIMIT, pageOf } from './common';
import { TaskEventSchema } from './task';

const noNul = (s: string) => !s.includes('\u0000');

/** The filters /v1/logs and its live tail share. */
const MATCH = {
  taskId: z.string().max(100).optional(),
  kind: z.string().min(1).max(100).refine(noNul, { error: 'must not contain NUL' }).optional(),
  q: z.string().min(1).max(200).refine(noNul, { error: 'must not contain NUL' }).optional(),
};

export const LogsQuery = z
  .strictObject({
    ...MATCH,
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: LIMIT,
    cursor: CURSOR,
  })
  .refine((q) => !q.since || !q.until || Date.parse(q.since) <= Date.parse(q.until), {
    path: ['until'],
    error: 'must not be before since',
  });

export const AuditEntrySchema = z
  .object({
    id: z.uuid(),
    at: z.iso.datetime(),
    actorId: z.string(),
    actorName: z.string().nullable(),
    action: z.string().openapi({ example: 'dlq.replay' }),
    target: z.string().nullable(),
    requestId: z.string().nullable(),
    data: z.unknown(),
  })
  .openapi('AuditEntry');

export const LogItemSchema = z
  .discriminatedUnion('source', [
    TaskEventSchema.extend({ source: z.literal('task_event') }),
    AuditEntrySchema.extend({ source: z.literal('audit') }),
  ])
  .openapi('LogItem', {
    description: 'A task event (`source: task_event`) or an audit entry (`source: audit`).',
  });

export const LogPageSchema = pageOf(LogItemSchema).openapi('LogPage');

export const LogStreamQuery = z.strictObject(MATCH);

export const LogStreamHeaders = z.object({
  'last-event-id': z
    .uuid({ error: 'must be the id of an item this stream sent' })
    .optional()
    .openapi({
      description:
        'The `id` of the last item received: the stream first sends what came after it (at most 1,000 items, the newest), then what comes.',
      example: '019a5a2e-0f60-7e66-9466-010e182e636f',
    }),
});
