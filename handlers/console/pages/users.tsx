import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { ROLES } from '../../../lib/auth/roles';
import type { UserView } from '../../../lib/auth/user-store';
import { ConflictError, NotFoundError } from '../../../lib/errors';
import type { FieldProblem } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import { zodProblems } from '../../../lib/tasks/submission';
import { routes } from '../../routes';
import { NewUserSchema } from '../../schemas/users';
import { ActionButton, Csrf, Notice, TableWrap, Time } from '../components';
import type { ConsoleDeps, ConsoleEnv, ConsoleContext } from '../console-env';
import { pageRole } from '../console-pages';
import { formFields } from '../form';
import { renderPage } from '../layout';
import { withNotice } from '../notices';
import { csrfOf, needs } from '../session';

function userId(id: string): string {
  if (!isUuid(id)) throw new NotFoundError(`No user ${JSON.stringify(id.slice(0, 100))}.`);
  return id;
}

/**
 * /ui/users (admin): users and tokens — create (the token shown once, on the answer to the
 * form, never again), rotate, delete — through UserAdmin, as /v1/users does.
 */
export function userRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const { users, userAdmin } = d.services;

  const list = async (
    c: ConsoleContext,
    opts: { problems?: FieldProblem[]; input?: Record<string, string>; status?: 200 | 409 | 422 } = {},
  ) =>
    renderPage(
      c,
      {
        title: 'Users and tokens',
        principal: c.get('principal'),
        csrf: csrfOf(c),
        current: '/ui/users',
        ...(opts.problems
          ? { notice: ['error', opts.problems.map((p) => `${p.path}: ${p.message}`).join('; ')] as const }
          : {}),
        children: (
          <>
            <UserTable users={await users.list()} csrf={csrfOf(c)} me={c.get('principal').id} />
            <NewUserForm csrf={csrfOf(c)} problems={opts.problems ?? []} input={opts.input ?? {}} />
          </>
        ),
      },
      opts.status ?? 200,
    );

  ui.get('/users', needs(pageRole('/ui/users')), async (c) => list(c));

  ui.post('/users', needs(routes.createUser.access), async (c) => {
    const form = await formFields(c);
    const input = {
      name: form.one('name') ?? '',
      role: form.one('role') ?? '',
      rateLimitRps: form.one('rateLimitRps') ?? '',
    };
    const rps = input.rateLimitRps.trim();
    const parsed = NewUserSchema.safeParse({
      name: input.name,
      role: input.role,
      ...(rps === '' ? {} : { rateLimitRps: /^\d+$/.test(rps) ? Number(rps) : rps }),
    });
    if (!parsed.success) return list(c, { problems: zodProblems('', parsed.error), input, status: 422 });
    let created: Awaited<ReturnType<typeof userAdmin.create>>;
    try {
      created = await userAdmin.create(
        c.get('principal'),
        { name: parsed.data.name, role: parsed.data.role, rateLimitRps: parsed.data.rateLimitRps ?? null },
        c.get('requestId'),
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return list(c, { problems: [{ path: 'name', message: err.message }], input, status: 409 });
    }
    return tokenPage(c, `User ${created.user.name} created`, created.user, created.token);
  });

  ui.post('/users/:id/rotate', needs(routes.rotateUserToken.access), async (c) => {
    const id = userId(c.req.param('id'));
    const token = await userAdmin.rotateToken(c.get('principal'), id, c.get('requestId'));
    const user = (await users.list()).find((u) => u.id === id);
    return tokenPage(c, `New token for ${user?.name ?? id}`, user, token);
  });

  ui.post('/users/:id/delete', needs(routes.deleteUser.access), async (c) => {
    const id = userId(c.req.param('id'));
    await userAdmin.revoke(c.get('principal'), id, c.get('requestId'));
    return c.redirect(withNotice('/ui/users', 'user-deleted'), 303);
  });
}

/** The one page that ever shows a token: the answer to the form that made it (never cached). */
function tokenPage(c: ConsoleContext, title: string, user: UserView | undefined, token: string) {
  return renderPage(c, {
    title,
    principal: c.get('principal'),
    csrf: csrfOf(c),
    current: '/ui/users',
    notice: ['ok', 'Copy the token now: it is shown only on this page, and stored only as a hash.'],
    children: (
      <>
        {user && (
          <p>
            <strong>{user.name}</strong>, role <strong>{user.role}</strong>.
          </p>
        )}
        <label for="new-token">Token</label>
        <input
          id="new-token"
          class="token"
          readonly
          value={token}
          spellcheck={false}
          autocomplete="off"
        />{' '}
        <button type="button" data-copy="new-token" hidden>
          Copy
        </button>
        <p>
          <a href="/ui/users">Back to users</a>
        </p>
      </>
    ),
  });
}

const UserTable: FC<{ users: UserView[]; csrf: string; me: string }> = ({ users, csrf, me }) => (
  <TableWrap label="Users">
    <table>
      <caption>Active users (tokens are never shown again)</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Role</th>
          <th scope="col">Rate limit</th>
          <th scope="col">Created</th>
          <th scope="col">Last used</th>
          <th scope="col">Token rotated</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {users.map((u) => (
          <tr data-key={u.id}>
            <th scope="row">{u.name}</th>
            <td>{u.role}</td>
            <td>{u.rateLimitRps === null ? 'default' : `${u.rateLimitRps}/s`}</td>
            <td>
              <Time at={u.createdAt} />
            </td>
            <td>
              <Time at={u.lastUsedAt} />
            </td>
            <td>
              <Time at={u.tokenRotatedAt} />
            </td>
            <td class="row-actions">
              <ActionButton
                action={`/ui/users/${u.id}/rotate`}
                csrf={csrf}
                label="Rotate token"
                confirm={`Give ${u.name} a new token? The current one stops working at once.`}
                ariaLabel={`Rotate token of ${u.name}`}
              />
              {u.id !== me && (
                <ActionButton
                  action={`/ui/users/${u.id}/delete`}
                  csrf={csrf}
                  label="Delete"
                  danger
                  confirm={`Delete ${u.name}? The token stops working at once; the tasks stay.`}
                  ariaLabel={`Delete ${u.name}`}
                />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </TableWrap>
);

const NewUserForm: FC<{ csrf: string; problems: FieldProblem[]; input: Record<string, string> }> = ({
  csrf,
  problems,
  input,
}) => {
  const bad = (f: string) => (problems.some((p) => p.path === f) ? { 'aria-invalid': 'true' } : {});
  return (
    <section aria-labelledby="new-user-h">
      <h2 id="new-user-h">Create a user</h2>
      {problems.length > 0 && <Notice kind="error">Fix the fields marked below.</Notice>}
      <form method="post" action="/ui/users" class="stacked">
        <Csrf token={csrf} />
        <div class="field">
          <label for="u-name">Name</label>
          <input id="u-name" name="name" required maxlength={200} value={input.name ?? ''} {...bad('name')} />
        </div>
        <div class="field">
          <label for="u-role">Role</label>
          <select id="u-role" name="role" {...bad('role')}>
            {ROLES.map((r) => (
              <option value={r} selected={(input.role ?? 'dev') === r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="u-rps">Rate limit (requests a second, optional)</label>
          <input
            id="u-rps"
            name="rateLimitRps"
            inputmode="numeric"
            value={input.rateLimitRps ?? ''}
            aria-describedby="u-rps-help"
            {...bad('rateLimitRps')}
          />
          <p id="u-rps-help" class="hint">
            Empty: the default (RATE_LIMIT_RPS). Bursts of twice this.
          </p>
        </div>
        <button type="submit">Create user</button>
      </form>
    </section>
  );
};
