import type { z } from 'zod';
import type { Role } from '../auth/roles';
import { PermanentTaskError } from '../errors';
import type { FeishuClient } from '../feishu/feishu-client';
import type { Logger } from '../logger';
import type { OutboundClient } from '../outbound/outbound-client';
import type { Priority } from '../tasks/task';

/** What an executor sees of the task it runs. */
export interface ExecutingTask<P = unknown> {
  id: string;
  type: string;
  queue: string;
  payload: P;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number;
  metadata: Record<string, unknown>;
  createdBy: string;
}

/**
 * The one argument every executor receives. `signal` aborts on timeout, cancellation, lost
 * lease or forced shutdown; an executor must stop soon after it fires. Use `task.id` and
 * `attempt` to make side effects idempotent: an attempt may run again after a crash.
 */
export interface TaskContext<P = unknown> {
  task: ExecutingTask<P>;
  attempt: number;
  signal: AbortSignal;
  logger: Logger;
  /**
   * The W3C `traceparent` naming this attempt's span, for outbound requests: the receiver's
   * spans join the task's trace as children of the attempt.
   */
  traceparent: string;
}

/** What executors share, built once per worker process (compose/build-worker.ts). */
export interface ExecutorServices {
  /** Every outbound HTTP request goes through it (SSRF policy, body caps). */
  outbound: OutboundClient;
  /** The configured Feishu bot, or null. */
  feishu: FeishuClient | null;
  /** BACKUP_TARGETS, BACKUP_DIR and BACKUP_KEEP, for pg.backup. */
  backups: BackupSettings;
}

/** Where and how pg.backup dumps; tests set the optional knobs. */
export interface BackupSettings {
  /** Target name → postgres:// URL (BACKUP_TARGETS). */
  targets: Record<string, string>;
  /** BACKUP_DIR; each target gets a sub-directory. */
  dir: string;
  /** BACKUP_KEEP: completed backups kept per target. */
  keep: number;
  pgDumpPath?: string;
  /** Between SIGTERM and SIGKILL when the attempt is aborted. */
  killGraceMs?: number;
  now?: () => Date;
}

/** What a submission may leave out, per type. */
export interface TaskDefaults {
  maxAttempts?: number;
  timeoutMs?: number;
  queue?: string;
  priority?: Priority;
}

/** How a task type is written: its payload schema and its executor, typed together. */
export interface TaskTypeSpec<S extends z.ZodType> {
  type: string;
  description: string;
  /** Checked at submission (422 on a mismatch); the executor receives it parsed, defaults applied. */
  payload: S;
  /** The least role that may submit it (default dev); TASK_TYPE_ROLES may say otherwise. */
  minRole?: Role;
  defaults?: TaskDefaults;
  /** Runs one attempt: returns the result (JSON-serialisable) or throws a task error. */
  execute(ctx: TaskContext<z.output<S>>, services: ExecutorServices): Promise<unknown>;
}

/** A task type as the API and the worker use it: one definition for both. */
export interface TaskType {
  readonly type: string;
  readonly description: string;
  readonly payload: z.ZodType;
  readonly minRole: Role;
  readonly defaults?: TaskDefaults;
  /** Parses the stored payload with the type's own schema, then runs the executor. */
  run(ctx: TaskContext, services: ExecutorServices): Promise<unknown>;
}

/**
 * Defines a task type: adding one is this call in one file and a line in the list of types.
 * The executor's payload is typed by the schema; the worker parses it once, with the same
 * schema the API validated the submission with.
 */
export function defineTaskType<S extends z.ZodType>(spec: TaskTypeSpec<S>): TaskType {
  return {
    type: spec.type,
    description: spec.description,
    payload: spec.payload,
    minRole: spec.minRole ?? 'dev',
    defaults: spec.defaults,
    run(ctx, services) {
      const parsed = spec.payload.safeParse(ctx.task.payload);
      if (!parsed.success) {
        return Promise.reject(
          new PermanentTaskError(
            `The payload does not match ${spec.type}: ${parsed.error.message}`,
            'invalid_payload',
          ),
        );
      }
      // `signal` stays a getter: the worker makes an attempt's signal only if it is read.
      const { task, attempt, logger, traceparent } = ctx;
      return spec.execute(
        {
          task: { ...task, payload: parsed.data },
          attempt,
          logger,
          traceparent,
          get signal() {
            return ctx.signal;
          },
        },
        services,
      );
    },
  };
}
