import type { UserStore } from '../lib/auth/user-store';
import type { Logger } from '../lib/logger';

/**
 * With the embedded database and no users yet, creates an admin and prints its token once,
 * so `npm start` is usable at once. The token goes to the terminal, never to the log.
 * (Against PostgreSQL this never happens: use `procurator create-admin`.)
 */
export async function bootstrapAdmin(
  users: UserStore,
  logger: Logger,
  out: NodeJS.WritableStream = process.stdout,
) {
  if ((await users.count()) > 0) return;
  const { user, token } = await users.create('admin', 'admin');
  logger.info({ userId: user.id }, 'created the first admin user (embedded database had none)');
  out.write(
    `\n  First start: created user "admin" with role admin.\n` +
      `  Its API token, shown only this once:\n\n    ${token}\n\n` +
      `  export PROCURATOR_TOKEN=${token}\n\n`,
  );
}
