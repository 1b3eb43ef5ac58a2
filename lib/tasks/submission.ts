import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TaskCatalog } from '../catalog/task-catalog';
import type { FieldProblem } from '../errors';
import { newId } from '../ids';
import { canonicalJson, findJsonProblems } from '../json-limits';
import { QUEUE_NAME_RE } from '../queue/queue-backend';
import {
  DEPENDENCY_REF_MESSAGE,
  DEPENDENCY_REF_RE,
  MAX_DEPENDENCIES,
  resolveDependencyRefs,
} from './dependency-refs';
import { PRIORITIES } from './task';
import type { ValidTask } from './task-store';

/**
 * A task's fair-sharing key (a tenant id, say): inside a queue, tasks of different keys start
 * round-robin. Kept to an alphabet that can be part of Redis key names.
 */
export const CONCURRENCY_KEY_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** How far ahead a task may be scheduled. */
export const MAX_SCHEDULE_AHEAD_MS = 366 * 86_400_000;
export const MAX_TIMEOUT_MS = 86_400_000;
export const MAX_ATTEMPTS = 100;

/** The fields of a task as clients send it, delayMs and runAt aside. */
const taskFields = {
  type: z.string().min(1).max(200),
  payload: z.record(z.string(), z.unknown()).optional(),
  queue: z
    .string()
    .regex(QUEUE_NAME_RE, { error: 'must be 1-64 characters of A-Z a-z 0-9 _ . -' })
    .optional(),
  priority: z.enum(PRIORITIES).optional(),
  concurrencyKey: z
    .string()
    .regex(CONCURRENCY_KEY_RE, { error: 'must be 1-128 characters of A-Z a-z 0-9 _ . : -' })
    .nullable()
    .optional(),
  maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional(),
  timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional(),
  callbackUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
    .max(2048)
    .nullable()
    .optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
};

/**
 * A submission as clients send it (API.md). Strict: a field a client must not set
 * (`status`, `attempts`, `createdBy`, `id`, ...) is refused, not ignored.
 */
export const submissionSchema = z
  .strictObject({
    ...taskFields,
    delayMs: z.number().int().min(0).max(MAX_SCHEDULE_AHEAD_MS).optional(),
    runAt: z.iso.datetime({ offset: true }).nullable().optional(),
    dependsOn: z
      .array(z.string().regex(DEPENDENCY_REF_RE, { error: DEPENDENCY_REF_MESSAGE }))
      .max(MAX_DEPENDENCIES, { error: `at most ${MAX_DEPENDENCIES} tasks` })
      .optional()
      .describe(
        'Tasks this one waits for (at most 100): it stays `waiting` until all have succeeded, and ends `cancelled` (`dependency_failed`) if one ends dead, cancelled or discarded. In a batch, `"$<index>"` names an earlier task of the same batch.',
      ),
  })
  // Exclusive whatever their values: `delayMs: 0` with a runAt is as ambiguous as any other
  // delay. A null runAt is the documented "not set" (API.md's example sends both defaults).
  .refine((s) => s.runAt == null || s.delayMs === undefined, {
    path: ['delayMs'],
    error: 'delayMs and runAt are exclusive: send one of them',
  });

/**
 * A schedule's task template (README "Schedules"): a submission without delayMs and runAt,
 * which the schedule decides. Strict too, so either of them is refused by name.
 */
export const taskTemplateSchema = z.strictObject(taskFields);

export type Submission = z.output<typeof submissionSchema>;

export interface SubmissionDefaults {
  maxAttempts: number;
  timeoutMs: number;
  /** Refuses a callback URL (a problem message) that the outbound policy would block. */
  checkCallbackUrl?: (url: string) => string | null;
}

export type Validated = { ok: true; task: ValidTask } | { ok: false; errors: FieldProblem[] };

/** A zod issue path as `a.b[2].c`, under `prefix`. */
export function issuePath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/**
 * Names unknown fields, at most 10 and each cut at 64 characters: a body of 250,000 made-up
 * keys must not be echoed back as a 2 MB answer.
 */
export function unknownFieldsMessage(keys: readonly string[]): string {
  const shown = keys.slice(0, 10).map((k) => (k.length > 64 ? `${k.slice(0, 64)}…` : k));
  const more = keys.length > shown.length ? ` and ${keys.length - shown.length} more` : '';
  return `unknown field(s): ${shown.join(', ')}${more}`;
}

/** A zod error as problems with paths under `prefix`; unknown keys named briefly. */
export function zodProblems(prefix: string, error: { issues: readonly z.core.$ZodIssue[] }): FieldProblem[] {
  return error.issues.map((i) => {
    const keys = i.code === 'unrecognized_keys' ? i.keys : [];
    return {
      path: issuePath(prefix, i.path) || '(body)',
      message: keys.length ? unknownFieldsMessage(keys) : i.message,
    };
  });
}

/**
 * Checks a parsed body against the submission schema, the type's payload schema and the
 * storage limits; returns the task to insert or every problem with its path.
 * The payload is stored as sent: the executor applies the schema's defaults when it runs.
 */
export function validateSubmission(
  body: unknown,
  prefix: string,
  catalog: TaskCatalog,
  defaults: SubmissionDefaults,
  createdBy: string,
  now: number = Date.now(),
  batchIndex: number | null = null,
): Validated {
  const parsed = submissionSchema.safeParse(body);
  if (!parsed.success) return { ok: false, errors: zodProblems(prefix, parsed.error) };
  return completeSubmission(
    { accepted: parsed.data, body },
    prefix,
    catalog,
    defaults,
    createdBy,
    now,
    batchIndex,
  );
}

/**
 * A submission the schema accepted, with the body it was parsed from: the payload and the
 * metadata are stored as sent (a parsed copy could turn a `__proto__` key into a prototype).
 */
export interface AcceptedSubmission {
  accepted: Submission;
  body: unknown;
}

/**
 * The rest of validateSubmission, for a body the submission schema already accepted (the
 * route's validator does that): the type's payload schema, the storage limits, the callback
 * URL's destination, how far ahead it runs, what it depends on (`batchIndex`: its place in
 * a batch, null for a single submission).
 */
export function completeSubmission(
  { accepted: s, body }: AcceptedSubmission,
  prefix: string,
  catalog: TaskCatalog,
  defaults: SubmissionDefaults,
  createdBy: string,
  now: number = Date.now(),
  batchIndex: number | null = null,
): Validated {
  const raw = body as { payload?: unknown; metadata?: unknown };
  const errors: FieldProblem[] = [];
  const definition = catalog.get(s.type);
  const payload = raw.payload ?? {};
  if (!definition) {
    errors.push({
      path: issuePath(prefix, ['type']),
      message: `unknown task type ${JSON.stringify(s.type)}; known: ${catalog
        .list()
        .map((t) => t.type)
        .join(', ')}`,
    });
  } else {
    const p = definition.payload.safeParse(payload);
    if (!p.success) errors.push(...zodProblems(issuePath(prefix, ['payload']), p.error));
  }
  errors.push(...findJsonProblems(payload, issuePath(prefix, ['payload'])));
  errors.push(...findJsonProblems(raw.metadata ?? {}, issuePath(prefix, ['metadata'])));
  let runAt: Date | null = null;
  if (s.runAt) {
    runAt = new Date(s.runAt);
    if (runAt.getTime() - now > MAX_SCHEDULE_AHEAD_MS) {
      errors.push({ path: issuePath(prefix, ['runAt']), message: 'must be less than 366 days ahead' });
    }
  }
  if (s.callbackUrl && defaults.checkCallbackUrl) {
    const problem = defaults.checkCallbackUrl(s.callbackUrl);
    if (problem) errors.push({ path: issuePath(prefix, ['callbackUrl']), message: problem });
  }
  const dependencies = resolveDependencyRefs(
    s.dependsOn,
    (i) => issuePath(prefix, ['dependsOn', i]),
    batchIndex,
  );
  errors.push(...dependencies.errors);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    task: {
      id: newId(),
      type: s.type,
      queue: s.queue ?? definition?.defaults?.queue ?? 'default',
      priority: s.priority ?? definition?.defaults?.priority ?? 'normal',
      concurrencyKey: s.concurrencyKey ?? null,
      payload,
      maxAttempts: s.maxAttempts ?? definition?.defaults?.maxAttempts ?? defaults.maxAttempts,
      timeoutMs: s.timeoutMs ?? definition?.defaults?.timeoutMs ?? defaults.timeoutMs,
      runAt,
      delayMs: s.delayMs ?? 0,
      callbackUrl: s.callbackUrl ?? null,
      metadata: (raw.metadata as Record<string, unknown> | undefined) ?? {},
      createdBy,
      idempotencyKey: null,
      requestHash: null,
      dependsOn: dependencies.refs,
    },
  };
}

/** The fingerprint of a submission body for idempotency: same document, same hash. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}
