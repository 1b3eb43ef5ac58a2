#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isRole } from '../lib/auth/roles';
import type { Role } from '../lib/auth/roles';
import { UserStore } from '../lib/auth/user-store';
import { ConfigError, loadConfig } from '../lib/config';
import type { Config } from '../lib/config';
import { openDatabase } from '../lib/db/open';
import { migratePostgres } from '../lib/db/migrate';
import { createLogger } from '../lib/logger';
import type { Logger } from '../lib/logger';
import { RotationNotAvailableError, signingKeyStore } from '../lib/signing/key-store';
import { VERSION } from '../lib/version';
import { bootstrapDeployment } from '../compose/bootstrap-deployment';
import { runServe } from '../compose/serve';
import { builtinCatalog } from '../compose/task-catalog';
import { openApiDocument } from '../handlers/openapi-document';
import { runWorker } from '../compose/worker-process';

const USAGE = `procurator ${VERSION} — asynchronous task gateway and executor

Usage:
  procurator serve                              HTTP API (and, with QUEUE_BACKEND=memory, the worker)
  procurator worker                             the worker (QUEUE_BACKEND=redis)
  procurator migrate                            apply database migrations to DATABASE_URL
  procurator create-admin --name NAME [--json]  create an admin user; prints its token once
  procurator create-user --name NAME --role ROLE [--json]
                                                create a user (role: admin, ops, dev)
  procurator rotate-signing-key                 a new callback signing key; the previous one stays
                                                published for 7 days (not with SIGNING_KEYS set)
  procurator openapi [--server URL]             print the OpenAPI document (what /openapi.json serves)
  procurator bootstrap --secrets-dir DIR [--admin-name NAME] [--ops-name NAME]
                                                once per deployment, idempotent: the first admin if
                                                none exists (token printed once), an ops user whose
                                                token goes to DIR/ops-token, a scrape token in
                                                DIR/metrics-token

Configuration comes from the environment; see the README.`;

class UsageError extends Error {}

async function createUser(config: Config, logger: Logger, args: string[], fixedRole?: Role): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const name = values.name?.trim();
  if (!name || name.length > 200) throw new UsageError('--name NAME is required (1-200 characters)');
  const role = fixedRole ?? values.role;
  if (!isRole(role)) throw new UsageError('--role must be admin, ops or dev');
  const database = await openDatabase(config, logger);
  try {
    const { user, token } = await new UserStore(database).create(name, role);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ id: user.id, name: user.name, role: user.role, token })}\n`);
    } else {
      process.stdout.write(
        `Created ${user.role} user "${user.name}" (${user.id}).\nIts API token, shown only this once:\n\n  ${token}\n\n`,
      );
    }
  } finally {
    await database.close();
  }
}

/** Makes a new callback signing key current; the old one stays in the JWKS for the grace period. */
async function rotateSigningKey(config: Config, logger: Logger): Promise<void> {
  // Checked before opening the database: with SIGNING_KEYS the database holds no keys to rotate.
  if (config.SIGNING_KEYS) throw new RotationNotAvailableError();
  const database = await openDatabase(config, logger);
  try {
    const r = await signingKeyStore(config, database).rotate();
    const old = r.retired.length ? r.retired.join(', ') : 'none';
    process.stdout.write(
      `New signing key ${r.kid} (${r.alg}) signs callbacks from now on.\n` +
        `Previous key(s): ${old}; still published until ${r.publishedUntil.toISOString()}.\n`,
    );
  } finally {
    await database.close();
  }
}

/** The OpenAPI document, for code generators: what GET /openapi.json answers. */
function printOpenApi(config: Config, args: string[]): void {
  const { values } = parseArgs({ args, options: { server: { type: 'string' } }, strict: true });
  const serverUrl = values.server ?? `http://localhost:${config.SERVER_PORT}`;
  const doc = openApiDocument({ version: VERSION, catalog: builtinCatalog(config), serverUrl });
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

/** `procurator bootstrap`: see compose/bootstrap-deployment.ts. */
async function bootstrap(config: Config, logger: Logger, args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'secrets-dir': { type: 'string' },
      'admin-name': { type: 'string', default: 'admin' },
      'ops-name': { type: 'string', default: 'monitoring' },
    },
    strict: true,
  });
  const secretsDir = values['secrets-dir']?.trim();
  if (!secretsDir) throw new UsageError('--secrets-dir DIR is required');
  const adminName = values['admin-name'].trim();
  const opsName = values['ops-name'].trim();
  for (const [flag, name] of [
    ['--admin-name', adminName],
    ['--ops-name', opsName],
  ] as const) {
    if (!name || name.length > 200) throw new UsageError(`${flag} must be 1-200 characters`);
  }
  if (adminName === opsName) throw new UsageError('--admin-name and --ops-name must differ');
  const database = await openDatabase(config, logger);
  try {
    await bootstrapDeployment({ database, secretsDir, adminName, opsName, out: process.stdout });
  } finally {
    await database.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const config = loadConfig();
  // Commands that print for humans or scripts keep their log lines off stdout.
  const quiet =
    command.startsWith('create-') ||
    command === 'rotate-signing-key' ||
    command === 'openapi' ||
    command === 'bootstrap';
  const logger = createLogger(quiet ? 'warn' : config.LOG_LEVEL);
  switch (command) {
    case 'serve':
      return runServe(config, logger);
    case 'worker':
      return runWorker(config, logger);
    case 'migrate':
      if (config.DATABASE_URL) {
        await migratePostgres(config.DATABASE_URL);
        logger.info('migrations applied');
      } else {
        await (await openDatabase(config, logger)).close();
      }
      return;
    case 'create-admin':
      return createUser(config, logger, rest, 'admin');
    case 'create-user':
      return createUser(config, logger, rest);
    case 'rotate-signing-key':
      return rotateSigningKey(config, logger);
    case 'openapi':
      return printOpenApi(config, rest);
    case 'bootstrap':
      return bootstrap(config, logger, rest);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`procurator: ${err.message}\n`);
    process.exit(2);
  }
  if (
    err instanceof UsageError ||
    (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
  ) {
    process.stderr.write(`procurator: ${err.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`procurator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
