import type { Logger } from '../../lib/logger';

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
}

/** Runs one attempt. Returns the result (JSON-serialisable) or throws a task error. */
export type Executor<P = unknown> = (ctx: TaskContext<P>) => Promise<unknown>;
