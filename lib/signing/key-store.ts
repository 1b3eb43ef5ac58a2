import { sql } from 'drizzle-orm';
import type { JSONWebKeySet, JWK } from 'jose';
import { ConfigError } from '../config';
import type { Config } from '../config';
import type { Database } from '../db/client';
import { toDate, toDateOrNull } from '../tasks/task-row';
import type { ConfiguredKey, PrivateKeyRecord, PublishableKey, SigningAlgorithm, SigningKey } from './keys';
import {
  RETIRED_KEY_GRACE_MS,
  buildJwks,
  checkSigningKeys,
  generateSigningKey,
  importSigningKey,
  withKids,
} from './keys';

/** What a rotation did. */
export interface Rotation {
  kid: string;
  alg: SigningAlgorithm;
  /** Keys that stopped signing now; they stay published until `publishedUntil`. */
  retired: string[];
  publishedUntil: Date;
}

/** Where callback keys come from: the key that signs now, and the set receivers verify with. */
export interface SigningKeyStore {
  readonly source: 'config' | 'database';
  current(): Promise<SigningKey>;
  publicJwks(): Promise<JSONWebKeySet>;
  /** Makes a new key current; the previous one stays published for the grace period. */
  rotate(): Promise<Rotation>;
}

/** Thrown by rotate() when SIGNING_KEYS is set: the operator rotates in the variable. */
export class RotationNotAvailableError extends Error {
  constructor() {
    super(
      'SIGNING_KEYS is set, so the keys live in that variable: rotate by putting a new private key first ' +
        'in its "keys" and keeping the previous one after it until receivers no longer need it.',
    );
    this.name = 'RotationNotAvailableError';
  }
}

/** The key store the configuration calls for: SIGNING_KEYS when set, else the database. */
export function signingKeyStore(config: Pick<Config, 'SIGNING_KEYS'>, database: Database): SigningKeyStore {
  if (!config.SIGNING_KEYS) return new DatabaseKeyStore(database);
  let keys: ConfiguredKey[];
  try {
    keys = checkSigningKeys(config.SIGNING_KEYS);
  } catch (err) {
    // Checked when the process builds its services, so a bad variable stops it at start.
    throw new ConfigError([`SIGNING_KEYS ${err instanceof Error ? err.message : String(err)}`]);
  }
  return new ConfiguredKeyStore(keys);
}

/** Keys from SIGNING_KEYS: the first signs, every one is published. */
export class ConfiguredKeyStore implements SigningKeyStore {
  readonly source = 'config';
  private loaded?: Promise<{ records: PrivateKeyRecord[]; signer: SigningKey }>;

  constructor(private readonly keys: readonly ConfiguredKey[]) {}

  private load() {
    this.loaded ??= (async () => {
      const records = await withKids(this.keys);
      return { records, signer: await importSigningKey(records[0]!) };
    })();
    return this.loaded;
  }

  async current(): Promise<SigningKey> {
    return (await this.load()).signer;
  }

  async publicJwks(): Promise<JSONWebKeySet> {
    const { records } = await this.load();
    return buildJwks(
      records.map((r) => ({ kid: r.kid, alg: r.alg, publicJwk: r.publicJwk, retiredAt: null })),
    );
  }

  rotate(): Promise<Rotation> {
    return Promise.reject(new RotationNotAvailableError());
  }
}

interface KeyRow {
  kid: string;
  algorithm: SigningAlgorithm;
  private_jwk: unknown;
  public_jwk: unknown;
  retired_at: unknown;
  now: unknown;
}

/** jsonb arrives parsed from one driver and as text from some raw paths. */
const jwk = (value: unknown): JWK => (typeof value === 'string' ? JSON.parse(value) : value) as JWK;

/**
 * Keys generated once and kept in `signing_keys`. Nothing is cached but imported private keys
 * (by kid), so a rotation made by another process is used by the next signature and
 * published by the next JWKS request of every API and worker.
 */
export class DatabaseKeyStore implements SigningKeyStore {
  readonly source = 'database';
  private readonly imported = new Map<string, Promise<SigningKey>>();

  constructor(
    private readonly database: Database,
    private readonly graceMs: number = RETIRED_KEY_GRACE_MS,
  ) {}

  async current(): Promise<SigningKey> {
    const row = (await this.currentRow()) ?? (await this.generateFirst());
    if (row.private_jwk === null) throw new Error(`signing key ${row.kid} has no private key`);
    let key = this.imported.get(row.kid);
    if (!key) {
      key = importSigningKey({ kid: row.kid, alg: row.algorithm, privateJwk: jwk(row.private_jwk) });
      key.catch(() => this.imported.delete(row.kid));
      // Only the current key signs: forget the ones rotated away.
      this.imported.clear();
      this.imported.set(row.kid, key);
    }
    return key;
  }

  async publicJwks(): Promise<JSONWebKeySet> {
    if (!(await this.currentRow())) await this.generateFirst();
    const rows = await this.database.rows<KeyRow>(sql`
      SELECT kid, algorithm, public_jwk, retired_at, now() AS now FROM signing_keys
      WHERE retired_at IS NULL OR retired_at > now() - ${this.graceMs} * interval '1 millisecond'
      ORDER BY created_at DESC, kid`);
    const keys: PublishableKey[] = rows.map((r) => ({
      kid: r.kid,
      alg: r.algorithm,
      publicJwk: jwk(r.public_jwk),
      retiredAt: toDateOrNull(r.retired_at),
    }));
    // The database's clock decides, as it did in the query.
    return buildJwks(keys, rows[0] ? toDate(rows[0].now) : new Date(), this.graceMs);
  }

  /**
   * Retires the current key (dropping its private half: it never signs again) and inserts a
   * new one, in one transaction. Two rotations at once: the unique index on the current key
   * makes the second fail rather than leave two current keys.
   */
  async rotate(): Promise<Rotation> {
    const next = await generateSigningKey();
    const retired = await this.database.db.transaction(async (tx) => {
      const res: unknown = await tx.execute(sql`
        UPDATE signing_keys SET retired_at = now(), private_jwk = NULL
        WHERE retired_at IS NULL RETURNING kid`);
      await tx.execute(sql`
        INSERT INTO signing_keys (kid, algorithm, private_jwk, public_jwk)
        VALUES (${next.kid}, ${next.alg}, ${JSON.stringify(next.privateJwk)}::jsonb,
                ${JSON.stringify(next.publicJwk)}::jsonb)`);
      return (res as { rows: { kid: string }[] }).rows.map((r) => r.kid);
    });
    return {
      kid: next.kid,
      alg: next.alg,
      retired,
      publishedUntil: new Date(Date.now() + this.graceMs),
    };
  }

  private async currentRow(): Promise<KeyRow | undefined> {
    const rows = await this.database.rows<KeyRow>(sql`
      SELECT kid, algorithm, private_jwk, public_jwk, retired_at, now() AS now
      FROM signing_keys WHERE retired_at IS NULL`);
    return rows[0];
  }

  /**
   * The first key, generated by whichever process needs one first. Processes racing here
   * each insert their own; the unique index on the current key keeps the first committed and
   * the others' inserts do nothing, so all of them then read the same key.
   */
  private async generateFirst(): Promise<KeyRow> {
    const key = await generateSigningKey();
    await this.database.rows(sql`
      INSERT INTO signing_keys (kid, algorithm, private_jwk, public_jwk)
      VALUES (${key.kid}, ${key.alg}, ${JSON.stringify(key.privateJwk)}::jsonb,
              ${JSON.stringify(key.publicJwk)}::jsonb)
      ON CONFLICT DO NOTHING`);
    const row = await this.currentRow();
    if (!row) throw new Error('no current signing key after generating one');
    return row;
  }
}
