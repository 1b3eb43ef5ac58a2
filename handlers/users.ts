import { NotFoundError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { UserAdmin } from '../lib/auth/user-admin';
import type { UserStore } from '../lib/auth/user-store';
import type { Api } from './api';
import { routes } from './routes';

function userId(id: string): string {
  if (!isUuid(id)) throw new NotFoundError(`No user ${JSON.stringify(id.slice(0, 100))}.`);
  return id;
}

export interface UserRoutesDeps {
  users: UserStore;
  userAdmin: UserAdmin;
}

/** /v1/users: admins create users, list them, rotate their tokens and delete them. */
export function userRoutes(app: Api, d: UserRoutesDeps): void {
  app.openapi(routes.createUser.route, async (c) => {
    const body = c.req.valid('json');
    const created = await d.userAdmin.create(
      c.get('principal'),
      { name: body.name, role: body.role, rateLimitRps: body.rateLimitRps ?? null },
      c.get('requestId'),
    );
    return c.json(created, 201);
  });

  app.openapi(routes.listUsers.route, async (c) => c.json({ items: await d.users.list() }, 200));

  app.openapi(routes.rotateUserToken.route, async (c) => {
    const id = userId(c.req.valid('param').id);
    return c.json({ token: await d.userAdmin.rotateToken(c.get('principal'), id, c.get('requestId')) }, 200);
  });

  app.openapi(routes.deleteUser.route, async (c) => {
    const id = userId(c.req.valid('param').id);
    await d.userAdmin.revoke(c.get('principal'), id, c.get('requestId'));
    return c.body(null, 204);
  });
}
