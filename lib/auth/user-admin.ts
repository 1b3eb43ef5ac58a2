import type { AuditStore } from '../audit/audit-store';
import type { Database } from '../db/client';
import { isUniqueViolation } from '../db/unique-violation';
import { ConflictError, NotFoundError } from '../errors';
import type { Logger } from '../logger';
import type { Authenticator } from './authenticator';
import { AUTH_CACHE_TTL_MS } from './auth-cache';
import type { Principal, Role } from './roles';
import type { TokenRevocations } from './token-revocations';
import type { UserStore, UserView } from './user-store';

export interface NewUser {
  name: string;
  role: Role;
  rateLimitRps: number | null;
}

export interface UserAdminDeps {
  database: Database;
  users: UserStore;
  audit: AuditStore;
  auth: Authenticator;
  revocations: TokenRevocations;
  logger: Logger;
}

/**
 * What an admin does to users: create, rotate a token, delete. Each change and its audit
 * entry commit together; a replaced or deleted token is then announced as revoked to every
 * API process before the caller gets its answer, so it stops working at once.
 */
export class UserAdmin {
  constructor(private readonly d: UserAdminDeps) {}

  async create(
    actor: Principal,
    input: NewUser,
    requestId: string,
  ): Promise<{ user: UserView; token: string }> {
    try {
      return await this.d.database.db.transaction(async (tx) => {
        const created = await this.d.users.create(input.name, input.role, input.rateLimitRps, tx);
        await tx.execute(
          this.d.audit.insertSql({
            actor,
            action: 'user.create',
            target: created.user.id,
            requestId,
            data: { name: input.name, role: input.role, rateLimitRps: input.rateLimitRps },
          }),
        );
        return created;
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new ConflictError(`An active user named ${JSON.stringify(input.name)} already exists.`);
      }
      throw err;
    }
  }

  /** A new token for the user; the old one is refused from the next request on. */
  async rotateToken(actor: Principal, id: string, requestId: string): Promise<string> {
    const rotated = await this.d.database.db.transaction(async (tx) => {
      const r = await this.d.users.rotateToken(id, tx);
      if (r) {
        await tx.execute(
          this.d.audit.insertSql({
            actor,
            action: 'user.rotate_token',
            target: id,
            requestId,
            data: { name: r.user.name },
          }),
        );
      }
      return r;
    });
    if (!rotated) throw new NotFoundError(`No user ${id}.`);
    await this.announce([rotated.oldHash]);
    return rotated.token;
  }

  /** Deletes the user; its token is refused from the next request on, its tasks remain. */
  async revoke(actor: Principal, id: string, requestId: string): Promise<void> {
    if (actor.id === id) throw new ConflictError('You cannot delete yourself; ask another admin to.');
    const deleted = await this.d.database.db.transaction(async (tx) => {
      const r = await this.d.users.softDelete(id, tx);
      if (r) {
        await tx.execute(
          this.d.audit.insertSql({
            actor,
            action: 'user.revoke',
            target: id,
            requestId,
            data: { name: r.user.name, role: r.user.role },
          }),
        );
      }
      return r;
    });
    if (!deleted) throw new NotFoundError(`No user ${id}.`);
    await this.announce([deleted.tokenHash]);
  }

  private async announce(tokenHashes: string[]): Promise<void> {
    this.d.auth.forget(tokenHashes);
    try {
      await this.d.revocations.revoke(tokenHashes);
    } catch (err) {
      // The database already refuses the token. A process that reaches Redis no better than
      // this one asks the database on every request; one that does reach it may accept the
      // token from its cache until the entry expires.
      this.d.logger.error(
        { err, cacheTtlMs: AUTH_CACHE_TTL_MS },
        'could not announce a token revocation through Redis',
      );
    }
  }
}
