import { Hono } from 'hono';
import { z } from 'zod';
import { ROLES } from '../lib/auth/roles';
import { NotFoundError, ValidationError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import { zodProblems } from '../lib/tasks/submission';
import type { UserAdmin } from '../lib/auth/user-admin';
import type { UserStore } from '../lib/auth/user-store';
import type { AppEnv } from './context';
import { readJsonBody } from './json-body';

/** A new user. Strict: any other field (`id`, `tokenHash`, `__proto__`, ...) is refused. */
const newUser = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[^\p{Cc}]+$/u, { error: 'must not contain control characters' }),
  role: z.enum(ROLES),
  rateLimitRps: z.number().int().min(1).max(1_000_000).nullable().optional(),
});

function parseNewUser(body: unknown): z.output<typeof newUser> {
  const result = newUser.safeParse(body);
  if (result.success) return result.data;
  throw new ValidationError('The user is invalid.', zodProblems('', result.error));
}

function userId(id: string): string {
  if (!isUuid(id)) throw new NotFoundError(`No user ${JSON.stringify(id.slice(0, 100))}.`);
  return id;
}

/** /v1/users: admins create users, list them, rotate their tokens and delete them. */
export interface UsersRouterDeps {
  users: UserStore;
  userAdmin: UserAdmin;
  maxBodyBytes: number;
}

export function usersRouter(d: UsersRouterDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.post('/', async (c) => {
    const body = parseNewUser(await readJsonBody(c, d.maxBodyBytes));
    const created = await d.userAdmin.create(
      c.get('principal'),
      { name: body.name, role: body.role, rateLimitRps: body.rateLimitRps ?? null },
      c.get('requestId'),
    );
    return c.json(created, 201);
  });

  r.get('/', async (c) => c.json({ items: await d.users.list() }));

  r.post('/:id/token', async (c) => {
    const id = userId(c.req.param('id'));
    const token = await d.userAdmin.rotateToken(c.get('principal'), id, c.get('requestId'));
    return c.json({ token });
  });

  r.delete('/:id', async (c) => {
    const id = userId(c.req.param('id'));
    await d.userAdmin.revoke(c.get('principal'), id, c.get('requestId'));
    return c.body(null, 204);
  });

  return r;
}
