import { z } from '@hono/zod-openapi';
import { ROLES } from '../../lib/auth/roles';

export const UserSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    role: z.enum(ROLES),
    rateLimitRps: z.int().nullable(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
    tokenRotatedAt: z.iso.datetime().nullable(),
  })
  .openapi('User', { description: 'A user; never its token or the token’s hash.' });

/** A new user. Strict: any other field (`id`, `tokenHash`, `__proto__`, ...) is refused. */
export const NewUserSchema = z
  .strictObject({
    name: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .regex(/^[^\p{Cc}]+$/u, { error: 'must not contain control characters' }),
    role: z.enum(ROLES),
    rateLimitRps: z.number().int().min(1).max(1_000_000).nullable().optional(),
  })
  .openapi('NewUser');

export const CreatedUserSchema = z
  .object({ user: UserSchema, token: z.string().openapi({ description: 'Shown only here.' }) })
  .openapi('CreatedUser');

export const TokenSchema = z.object({ token: z.string() }).openapi('NewToken');

export const MeSchema = z.object({ id: z.string(), name: z.string(), role: z.enum(ROLES) }).openapi('Me');
