import path from 'node:path';
import type { Actor } from '../lib/audit/audit-store';
import { AuditStore } from '../lib/audit/audit-store';
import type { Role } from '../lib/auth/roles';
import { generateToken, hashToken } from '../lib/auth/tokens';
import { UserStore } from '../lib/auth/user-store';
import type { UserView } from '../lib/auth/user-store';
import type { Database } from '../lib/db/client';
import { prepareSecretDir, readSecretFile, writeSecretFile } from '../lib/secret-files';

/** The files `procurator bootstrap` keeps in its secrets directory. */
export const OPS_TOKEN_FILE = 'ops-token';
export const METRICS_TOKEN_FILE = 'metrics-token';

/** Who the audit log names for what the bootstrap does: no user exists before it. */
const BOOTSTRAP_ACTOR: Actor['principal'] = { id: 'bootstrap', name: 'procurator bootstrap' };

export interface BootstrapOptions {
  database: Database;
  secretsDir: string;
  /** The first admin's name, used only when no admin exists. */
  adminName: string;
  /** The ops user whose token the monitoring stack (Alertmanager) presents. */
  opsName: string;
  /** Where the new admin's token is printed, once. */
  out: NodeJS.WritableStream;
}

export interface BootstrapOutcome {
  admin: 'created' | 'present';
  ops: 'created' | 'rotated' | 'present';
  metricsToken: 'created' | 'present';
}

/**
 * What a deployment needs before `serve` and the workers start, done only where missing so
 * that every `docker compose up` may run it: the first admin (token printed once), an ops
 * user for the monitoring stack with its token in the secrets directory, and the scrape
 * token. Anything lost is made again — a missing or stale ops token file gets the user a
 * new token — and nothing that exists changes. Two runs at once are not expected (compose
 * runs one); if they race, the unique index on active user names makes one of them fail.
 */
export async function bootstrapDeployment(o: BootstrapOptions): Promise<BootstrapOutcome> {
  await prepareSecretDir(o.secretsDir);
  const users = new UserStore(o.database);
  const audit = new AuditStore(o.database);
  const active = await users.list();

  const existing = active.find((u) => u.name === o.opsName);
  if (existing && existing.role !== 'ops') {
    // Writing an admin's token into a volume other containers read would hand it out.
    throw new Error(
      `user "${o.opsName}" exists with role ${existing.role}; the monitoring user must have role ops (choose another --ops-name)`,
    );
  }

  let admin: BootstrapOutcome['admin'] = 'present';
  if (!active.some((u) => u.role === 'admin')) {
    const created = await createAudited(o.database, users, audit, o.adminName, 'admin');
    admin = 'created';
    // Printed at once, after the commit: never a token that does not exist, and never one
    // lost because a later step failed.
    o.out.write(
      `Created admin user "${created.user.name}" (${created.user.id}).\n` +
        `Its API token, shown only this once:\n\n  ${created.token}\n\n`,
    );
  }

  const opsFile = path.join(o.secretsDir, OPS_TOKEN_FILE);
  let ops: BootstrapOutcome['ops'] = 'present';
  if (!existing) {
    // The file is written inside the transaction, before the commit: a failed commit leaves
    // a token nobody holds, which the next run finds stale and replaces.
    await o.database.db.transaction(async (tx) => {
      const created = await users.create(o.opsName, 'ops', null, tx);
      await tx.execute(audit.insertSql(auditEntry('user.create', created.user, { role: 'ops' })));
      await writeSecretFile(opsFile, created.token);
    });
    ops = 'created';
  } else if (!(await fileHoldsTokenOf(users, opsFile, existing.id))) {
    // Volume lost, or the token rotated through the API: only a new token can be written,
    // as the old one is known by its hash alone. Nobody else holds the old one, so no
    // revocation needs announcing.
    await o.database.db.transaction(async (tx) => {
      const rotated = await users.rotateToken(existing.id, tx);
      if (!rotated) throw new Error(`user "${o.opsName}" was deleted while the bootstrap ran`);
      await tx.execute(
        audit.insertSql(auditEntry('user.rotate_token', rotated.user, { reason: 'token file' })),
      );
      await writeSecretFile(opsFile, rotated.token);
    });
    ops = 'rotated';
  }

  const metricsFile = path.join(o.secretsDir, METRICS_TOKEN_FILE);
  let metricsToken: BootstrapOutcome['metricsToken'] = 'present';
  if ((await readSecretFile(metricsFile)) === null) {
    // Our token format, so that the secret scanners and log masks that know it catch this one too.
    await writeSecretFile(metricsFile, generateToken());
    metricsToken = 'created';
  }

  o.out.write(
    `bootstrap: admin ${admin === 'created' ? `"${o.adminName}" created` : 'present, unchanged'}\n` +
      `bootstrap: ops user "${o.opsName}" ${describeOps(ops)}; its token is in ${opsFile}\n` +
      `bootstrap: metrics token ${metricsToken === 'created' ? 'created' : 'present, unchanged'} in ${metricsFile}\n`,
  );
  return { admin, ops, metricsToken };
}

function describeOps(ops: BootstrapOutcome['ops']): string {
  if (ops === 'created') return 'created';
  if (ops === 'rotated') return 'given a new token (its token file was missing or no longer valid)';
  return 'present, unchanged';
}

async function createAudited(
  database: Database,
  users: UserStore,
  audit: AuditStore,
  name: string,
  role: Role,
): Promise<{ user: UserView; token: string }> {
  return database.db.transaction(async (tx) => {
    const created = await users.create(name, role, null, tx);
    await tx.execute(audit.insertSql(auditEntry('user.create', created.user, { role })));
    return created;
  });
}

function auditEntry(action: string, user: UserView, data: Record<string, unknown>) {
  return {
    actor: BOOTSTRAP_ACTOR,
    action,
    target: user.id,
    requestId: null,
    data: { name: user.name, ...data },
  };
}

/** Whether the file holds the current token of user `id` (a copy from before a rotation does not). */
async function fileHoldsTokenOf(users: UserStore, file: string, id: string): Promise<boolean> {
  const token = await readSecretFile(file);
  if (token === null) return false;
  const holder = await users.findByTokenHash(hashToken(token));
  return holder?.id === id;
}
