import { z } from '@hono/zod-openapi';

/** A page of a list newest first: its items and the cursor of the next page (null: the last). */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

/** `{id}` in a path. Anything is accepted: an id that is no UUID is simply not found (404). */
export const IdParams = z.object({
  id: z.string().openapi({
    param: { name: 'id', in: 'path' },
    format: 'uuid',
    example: '019a5a2e-0f60-7e66-9466-010e182e636f',
  }),
});

export const CURSOR = z
  .string()
  .max(200)
  .optional()
  .openapi({ description: 'The `nextCursor` of the previous page.' });

export const LIMIT = z.coerce
  .number()
  .int()
  .min(1)
  .max(500)
  .default(50)
  .openapi({ description: 'At most 500.' });

/** A JSON body as it reached the API (only its shape documented; the route validates it). */
export function json<T extends z.ZodType>(schema: T, description?: string) {
  return {
    content: { 'application/json': { schema } },
    required: true,
    ...(description ? { description } : {}),
  };
}

/** A JSON answer. */
export function answer<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}
