import { z } from '@hono/zod-openapi';

export const QueueStateSchema = z
  .object({
    name: z.string(),
    paused: z.boolean(),
    pausedAt: z.iso.datetime().nullable(),
    pausedBy: z.string().nullable(),
  })
  .openapi('QueueState');

export const QueueSchema = z
  .object({
    name: z.string(),
    length: z.int().openapi({ description: 'Tasks waiting to be delivered.' }),
    pending: z.int().openapi({ description: 'Delivered, not yet acknowledged.' }),
    delayed: z.int().openapi({ description: 'Waiting for their due time.' }),
    dead: z.int(),
    consumers: z.int(),
    paused: z.boolean(),
    pausedAt: z.iso.datetime().nullable(),
    oldestAgeSeconds: z
      .number()
      .openapi({ description: 'How long the oldest task ready to start has waited.' }),
  })
  .openapi('Queue');

export const QueueListSchema = z.object({ items: z.array(QueueSchema) }).openapi('QueueList');

export const QueueNameParams = z.object({
  name: z.string().openapi({ param: { name: 'name', in: 'path' }, example: 'default' }),
});
