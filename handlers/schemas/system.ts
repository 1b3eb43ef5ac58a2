import { z } from '@hono/zod-openapi';
import { ROLES } from '../../lib/auth/roles';

export const SystemInfoSchema = z
  .object({
    version: z.string(),
    queueBackend: z.enum(['memory', 'redis']),
    database: z.enum(['embedded', 'postgres']),
    taskTypes: z.array(z.object({ type: z.string(), description: z.string(), minRole: z.enum(ROLES) })),
    queues: z.int().openapi({ description: 'How many queues exist.' }),
    maxQueues: z.int(),
  })
  .openapi('SystemInfo');

export const HealthSchema = z.object({ status: z.literal('ok') }).openapi('Health');

const check = z.enum(['ok', 'unavailable']);
export const ReadinessSchema = z
  .object({ status: z.enum(['ready', 'unavailable']), checks: z.object({ db: check, queue: check }) })
  .openapi('Readiness');

export const JwksSchema = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())) })
  .openapi('Jwks', { description: 'Public keys that verify callback signatures.' });
