import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { flowLimitsSchema } from './flow/flow-limits';

/**
 * The whole configuration of Procurator: one schema, read once at start. Nothing else reads
 * process.env. A bad value stops the process with a message naming the variable.
 */

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `must be an integer between ${min} and ${max}` })
    .int({ error: `must be an integer between ${min} and ${max}` })
    .min(min, { error: `must be an integer between ${min} and ${max}` })
    .max(max, { error: `must be an integer between ${min} and ${max}` });

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A JSON object whose values all match `value` (and keys `keyPattern`). */
const jsonMap = <T extends z.ZodType>(value: T, what: string, keyPattern = /^[\s\S]+$/) =>
  z.string().transform((raw, ctx): Record<string, z.output<T>> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be a JSON object of ${what}` });
      return z.NEVER;
    }
    const result = z.record(z.string().regex(keyPattern), value).safeParse(parsed);
    if (!result.success) {
      ctx.addIssue({ code: 'custom', message: `must be a JSON object of ${what}` });
      return z.NEVER;
    }
    return result.data;
  });

const list = z.string().transform((raw) =>
  raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0),
);

export const configSchema = z
  .object({
    SERVER_PORT: int(0, 65535).default(50002),
    SERVER_HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// URL' })
      .optional(),
    // A replica for the reads that may lag (README "Beyond one PostgreSQL").
    DATABASE_READ_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// URL' })
      .optional(),
    DATABASE_POOL_SIZE: int(1, 200).default(10),
    // Below the pg client's own 60 s query_timeout, so that the server always gives up first.
    LIST_QUERY_TIMEOUT_MS: int(1, 30_000).default(5000),
    DATA_DIR: z.string().min(1).default('./.procurator'),
    QUEUE_BACKEND: z.enum(['memory', 'redis'], { error: 'must be memory or redis' }).default('memory'),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' })
      .default('redis://localhost:6379/0'),
    REDIS_CLUSTER_NODES: z
      .string()
      .regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, {
        error: 'must be comma-separated host:port seeds of a Redis Cluster',
      })
      .optional(),
    REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 _ . : -' })
      .default('procurator'),
    API_TOKENS: jsonMap(z.enum(['admin', 'ops', 'dev']), 'token → role (admin, ops or dev)').default({}),
    WORKER_CONCURRENCY: int(1, 10000).default(16),
    WORKER_BLOCK_MS: int(10, 60000).default(1000),
    WORKER_ID: z.string().min(1).max(200).optional(),
    CLAIM_IDLE_MS: int(100, 86_400_000).default(30000),
    RECOVERY_INTERVAL_MS: int(10, 3_600_000).default(5000),
    RECONCILE_INTERVAL_MS: int(10, 3_600_000).default(30000),
    SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(25000),
    // Retention (README, "Retention"): 0 keeps for ever. Up to ten years.
    RETENTION_SUCCEEDED_MS: int(0, 315_360_000_000).default(604_800_000),
    RETENTION_DEAD_MS: int(0, 315_360_000_000).default(2_592_000_000),
    RETENTION_AUDIT_MS: int(0, 315_360_000_000).default(31_536_000_000),
    IDEMPOTENCY_TTL_MS: int(1000, 315_360_000_000).default(86_400_000),
    PRUNE_INTERVAL_MS: int(10, 86_400_000).default(60000),
    // How often each worker looks for due schedules (README "Schedules").
    SCHEDULE_INTERVAL_MS: int(10, 60_000).default(250),
    RETRY_BASE_MS: int(1, 86_400_000).default(1000),
    RETRY_MAX_MS: int(1, 86_400_000).default(300000),
    DEFAULT_MAX_ATTEMPTS: int(1, 100).default(5),
    DEFAULT_TIMEOUT_MS: int(1, 86_400_000).default(60000),
    RATE_LIMIT_RPS: int(1, 1_000_000).default(100),
    RATE_LIMIT_BURST: int(1, 10_000_000).default(200),
    AUTH_FAILURES_PER_MINUTE: int(1, 1_000_000).default(20),
    TRUST_PROXY: bool.default(false),
    // The web console (README, "Web console"): a session unused this long is signed out.
    UI_SESSION_IDLE_MS: int(60_000, 604_800_000).default(1_800_000),
    MAX_BODY_BYTES: int(1024, 100 * 1024 * 1024).default(1048576),
    OUTBOUND_ALLOW_PRIVATE: bool.default(false),
    OUTBOUND_ALLOW_HOSTS: list.default([]),
    BACKUP_TARGETS: jsonMap(
      z.string().regex(/^postgres(ql)?:\/\//),
      'target name (letters, digits, _ . -) → postgres:// URL',
      // a target name becomes a directory and a file name prefix
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
    ).default({}),
    BACKUP_DIR: z.string().min(1).default('./backups'),
    BACKUP_KEEP: int(1, 10000).default(7),
    FEISHU_WEBHOOK_URL: z.url({ error: 'must be an http(s) URL' }).optional(),
    FEISHU_SECRET: z.string().min(1).optional(),
    SIGNING_KEYS: z.string().min(1).optional(),
    METRICS_TOKEN: z.string().min(1).optional(),
    // Read into METRICS_TOKEN by loadConfig (a secret shared through a mounted file).
    METRICS_TOKEN_FILE: z.string().min(1).optional(),
    WORKER_METRICS_PORT: int(0, 65535).default(50003),
    MAX_QUEUES: int(1, 100_000).default(100),
    // Unset: each type's own least role (pg.backup and feishu.notify: ops, the rest: dev).
    TASK_TYPE_ROLES: jsonMap(
      z.enum(['admin', 'ops', 'dev']),
      'task type → role (admin, ops or dev)',
    ).optional(),
    FLOW_LIMITS: z
      .string()
      .transform((raw, ctx) => {
        const what =
          'a JSON object of "type:<name>" or "queue:<name>" → {concurrency?, ratePerSecond?, burst?}';
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          ctx.addIssue({ code: 'custom', message: `must be ${what}` });
          return z.NEVER;
        }
        const r = flowLimitsSchema.safeParse(parsed);
        if (!r.success) {
          ctx.addIssue({
            code: 'custom',
            message: `must be ${what} (${r.error.issues[0]?.message ?? 'invalid'})`,
          });
          return z.NEVER;
        }
        return r.data;
      })
      .default({}),
    FAILPOINTS: z
      .string()
      .regex(/^[a-z.-]+(:\d+)?(,[a-z.-]+(:\d+)?)*$/, {
        error: 'must be name[:n],... (test-only crash points)',
      })
      .optional(),
    // The standard OpenTelemetry variables (README "Tracing"): spans are exported only when an
    // endpoint is set. OTLP over gRPC would need another exporter and its native dependencies.
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .optional(),
    OTEL_EXPORTER_OTLP_PROTOCOL: z
      .enum(['http/protobuf', 'http/json'], {
        error: 'must be http/protobuf or http/json (grpc is not supported)',
      })
      .default('http/protobuf'),
    OTEL_SERVICE_NAME: z.string().min(1).max(200).optional(),
    // Of one export, retries included; a shutdown waits this long at most for the last one.
    OTEL_EXPORTER_OTLP_TIMEOUT: int(1, 600_000).default(10_000),
    LOG_LEVEL: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
        error: 'must be one of trace, debug, info, warn, error, fatal, silent',
      })
      .default('info'),
  })
  .refine((c) => c.RETRY_BASE_MS <= c.RETRY_MAX_MS, {
    path: ['RETRY_BASE_MS'],
    error: 'must not exceed RETRY_MAX_MS',
  })
  .refine((c) => !c.DATABASE_READ_URL || c.DATABASE_URL, {
    path: ['DATABASE_READ_URL'],
    error: 'needs DATABASE_URL: the embedded database has no replica',
  });

export type Config = z.output<typeof configSchema>;

/** Thrown when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the configuration from an environment map. Empty strings count as unset so that
 * `FOO=` in an env file falls back to the default.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(configSchema.shape);
  const input: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const fileProblems = readFromFiles(input);
  if (fileProblems.length > 0) throw new ConfigError(fileProblems);
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'configuration');
    const given = input[name];
    const shown = given === undefined || isSecret(name) ? '' : ` (got ${JSON.stringify(given)})`;
    return `${name} ${issue.message}${shown}`;
  });
  throw new ConfigError(problems);
}

/**
 * Secrets that may come from a file instead, by the `NAME_FILE` convention of container
 * secrets: the content, trimmed, becomes NAME. Read once, at start; setting both is refused
 * rather than guessing which one was meant.
 */
const FROM_FILE = ['METRICS_TOKEN'] as const;

function readFromFiles(input: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const name of FROM_FILE) {
    const fileVar = `${name}_FILE`;
    const file = input[fileVar];
    if (file === undefined) continue;
    if (input[name] !== undefined) {
      problems.push(`${fileVar} and ${name} are both set: set only one of them`);
      continue;
    }
    let content: string;
    try {
      content = readFileSync(file, 'utf8').trim();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      problems.push(`${fileVar} cannot be read (${typeof code === 'string' ? code : String(err)}: ${file})`);
      continue;
    }
    if (content === '') problems.push(`${fileVar} names an empty file (${file})`);
    else input[name] = content;
  }
  return problems;
}

function isSecret(name: string): boolean {
  return /TOKEN|SECRET|KEYS|URL|TARGETS/.test(name);
}

/** A configuration from defaults plus overrides, for tests and embedding. */
export function testConfig(overrides: Partial<Record<keyof Config, string>> = {}): Config {
  return loadConfig(overrides);
}
