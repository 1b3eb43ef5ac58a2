import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { ExecutorServices } from '../lib/catalog/task-type';
import { isRefusedValueError } from '../lib/db/transient-errors';
import {
  PermanentTaskError,
  RetryAfterError,
  TaskTimeoutError,
  coerceError,
  describeTaskError,
} from '../lib/errors';
import type { FailPoints } from '../lib/failpoints';
import type { FlowGate, FlowLimits, FlowRule } from '../lib/flow/flow-limits';
import { newId } from '../lib/ids';
import { lazyChild } from '../lib/logger';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend, QueueMessage } from '../lib/queue/queue-backend';
import { heldBackOf } from '../lib/queue/queue-backend';
import { cutText } from '../lib/text';
import { newClaimIds } from '../lib/tasks/attempt-batches';
import type { AttemptStore, Lease } from '../lib/tasks/attempt-store';
import type { DependentRelease } from '../lib/tasks/dependent-release';
import { newOutcomeIds } from '../lib/tasks/outcome-store';
import type { OutcomeStore } from '../lib/tasks/outcome-store';
import { resultToJson } from '../lib/tasks/result-json';
import { decideFailure } from '../lib/tasks/retry-policy';
import type { RetrySettings } from '../lib/tasks/retry-policy';
import type { ClaimedTask, TaskError, TaskRecord, TaskSummary } from '../lib/tasks/task';
import { noTracing } from '../lib/tracing/tracing';
import type { TraceSpan, Tracing } from '../lib/tracing/tracing';
import { AttemptAbort } from './attempt-abort';
import { startAttemptSpan } from './attempt-span';
import { withWriteRetries } from './write-retries';

export type { AbortReason } from './attempt-abort';

/** One message this worker holds, and the attempt it runs, if any. */
export interface RunningAttempt {
  message: QueueMessage;
  /** Stops the attempt: timeout, cancellation, lost lease, shutdown. */
  abort: AttemptAbort;
  lease?: Lease;
  task?: ClaimedTask;
  /** Flow rules whose slots this attempt holds (until its executor returns), and as whom. */
  flow?: { rules: FlowRule[]; holder: string };
  /**
   * Told once its executor has returned (and its abort reason is fixed): what is left is the
   * outcome's write and the ack, and the worker may start another attempt beside them.
   */
  executed?: () => void;
}

/** Flow limits and the gate that enforces them across workers. */
export interface Flow {
  limits: FlowLimits;
  gate: FlowGate;
}

export interface AttemptRunnerDeps {
  queue: QueueBackend;
  claims: AttemptStore;
  outcomes: OutcomeStore;
  catalog: TaskCatalog;
  services: ExecutorServices;
  events: TaskEvents;
  logger: Logger;
  workerId: string;
  /** How long a claim lasts without a heartbeat: CLAIM_IDLE_MS. */
  leaseMs: number;
  retry: RetrySettings;
  random?: () => number;
  failpoints?: FailPoints;
  flow?: Flow;
  /** Queues paused by ops: a message of one read before the pause (or recovered) waits. */
  pausedQueues?: () => ReadonlySet<string>;
  /** Each attempt is a span of its task's trace (default: ids only, nothing exported). */
  tracing?: Tracing;
  /** After an end commits: enqueues what it released (README "Dependencies"). */
  dependents?: Pick<DependentRelease, 'afterEnd'>;
}

/** How long a message of a paused queue waits before it is looked at again. */
const PAUSED_RECHECK_MS = 1000;

/** Deliveries beyond maxAttempts + this mean the message keeps stopping its worker. */
const EXTRA_DELIVERIES = 2;

/**
 * Takes one delivered message through claim → execute → outcome → ack. The order is the
 * guarantee: the outcome is written (fenced by the lease epoch) before the message is
 * acknowledged, and nothing is acknowledged by a worker whose fenced write changed nothing.
 */
export class AttemptRunner {
  /** Attempts whose late outcome was already counted (a WeakSet: nothing to clean up). */
  private readonly discarded = new WeakSet<RunningAttempt>();
  /** Fires when the shutdown's grace period is over: outcome writes still retrying give up. */
  private readonly graceOver = new AttemptAbort();

  constructor(private readonly d: AttemptRunnerDeps) {}

  async run(a: RunningAttempt): Promise<void> {
    if (this.d.pausedQueues?.().has(a.message.queue)) {
      await this.d.queue.postpone(a.message, (await this.d.queue.now()) + PAUSED_RECHECK_MS);
      return;
    }
    const flow = this.d.flow;
    const rules = flow?.limits.rulesFor(a.message) ?? [];
    if (!flow || rules.length === 0) return this.runClaimed(a);
    // The slot is this delivery's own: another delivery of the task (its message taken over
    // from a live worker) takes, refreshes and releases a slot of its own, never this one.
    const holder = `${a.message.taskId}/${newId()}`;
    const { waitMs, now } = await flow.gate.acquire(holder, rules, this.d.leaseMs, heldBackOf(a.message));
    if (waitMs > 0) {
      // Over a limit: wait in the delayed set (no attempt spent, nothing written), with jitter
      // so that waiting tasks do not all come back at the same instant; a task with a
      // concurrency key waits at the front of its key's lane instead (it keeps its key's
      // turn). Held by a full concurrency rule, it is woken as soon as a slot frees (see
      // releaseFlow); the wait is what it takes if that wake-up is lost.
      const jitter = Math.floor((this.d.random ?? Math.random)() * Math.min(waitMs, 250));
      await this.d.queue.postpone(a.message, now + waitMs + jitter);
      this.d.events.emit('flow_limited', { scopes: rules.map((r) => r.configured ?? r.scope) });
      return;
    }
    a.flow = { rules, holder };
    // A limit counts attempts executing: the slots go back as soon as the executor returns,
    // not after the outcome's write and ack (or whenever the attempt ends, if it never ran).
    // `a.flow` goes first, so that the heartbeat stops renewing them: a renewal sent after the
    // release would take the slots again until their lease ran out.
    let released: Promise<void> | undefined;
    const release = () => {
      a.flow = undefined;
      return (released ??= this.releaseFlow(flow.gate, holder, rules));
    };
    const executed = a.executed;
    a.executed = () => {
      executed?.();
      void release();
    };
    try {
      await this.runClaimed(a);
    } finally {
      await release();
    }
  }

  /**
   * Gives the attempt's slots back and wakes, per slot freed, the task that has waited longest
   * for it: without that, a freed slot stays idle until a waiting task looks again by itself.
   */
  private async releaseFlow(gate: FlowGate, holder: string, rules: readonly FlowRule[]): Promise<void> {
    try {
      const woken = await gate.release(holder, rules);
      if (woken.length > 0) await this.d.queue.wakeHeld(woken);
    } catch (err) {
      this.d.logger.warn({ err }, 'could not release flow slots; they expire, and waiting tasks look again');
    }
  }

  private async runClaimed(a: RunningAttempt): Promise<void> {
    const { message } = a;
    // Chosen once: a retry after a lost reply recognises its own committed claim by them.
    const item = { taskId: message.taskId, seq: message.seq, ids: newClaimIds() };
    const claim = await withWriteRetries(
      () => this.d.claims.claim(item, this.d.workerId, this.d.leaseMs),
      a.abort,
      this.d.logger,
    );
    if (!claim) return; // stopping while the database was unreachable: the message stays pending
    switch (claim.kind) {
      case 'busy':
        // Another worker runs the task: its message goes back to it (with the delivery count
        // it had), or the two would pass it back and forth, each pass counting as a delivery.
        if (claim.owner && claim.owner !== this.d.workerId) await this.d.queue.handBack(message, claim.owner);
        return;
      case 'drop':
        this.d.events.emit('message_dropped', { taskId: message.taskId, reason: claim.reason });
        await this.d.queue.ack(message);
        return;
      case 'not_due':
        await this.d.queue.defer(message, {
          taskId: claim.task.id,
          seq: claim.seq,
          queue: claim.task.queue,
          priority: claim.task.priority,
          type: claim.task.type,
          concurrencyKey: claim.task.concurrencyKey,
          dueAt: claim.runAt.getTime(),
        });
        return;
      case 'cancelled':
        await this.d.queue.ack(message);
        await this.ended(claim.task);
        return;
      case 'exhausted':
        await this.deadLetter(message, claim.task);
        await this.ended(claim.task);
        return;
      case 'claimed':
        a.task = claim.task;
        a.lease = { id: claim.task.id, leaseEpoch: claim.task.leaseEpoch };
        await this.execute(a, claim.task, claim.recovered);
    }
  }

  /**
   * One attempt as one span of the task's trace, under the span its submission left (README
   * "Tracing"); its id is the parent the attempt's outbound requests name. Ended whatever the
   * attempt's end, even one that throws.
   */
  private async execute(a: RunningAttempt, task: ClaimedTask, recovered: boolean): Promise<void> {
    const span = startAttemptSpan(this.d.tracing ?? noTracing, task, this.d.workerId);
    try {
      await this.attempt(a, task, recovered, span);
    } catch (err) {
      span.fail(err);
      throw err;
    } finally {
      span.end();
    }
  }

  private async attempt(
    a: RunningAttempt,
    task: ClaimedTask,
    recovered: boolean,
    span: TraceSpan,
  ): Promise<void> {
    const dueAt = task.runAt ?? task.createdAt;
    this.d.events.emit('started', { task, recovered, waitMs: Date.now() - dueAt.getTime() });
    const logger = lazyChild(this.d.logger, {
      taskId: task.id,
      type: task.type,
      attempt: task.attempts,
      traceId: span.traceId,
      spanId: span.spanId,
    });
    if (this.d.logger.isLevelEnabled('debug')) logger.debug('attempt started');
    const startedAt = performance.now();

    let resultJson = 'null';
    let failure: unknown;
    if (a.message.deliveries > task.maxAttempts + EXTRA_DELIVERIES) {
      failure = poisonError(a.message.deliveries);
    } else {
      const timer = setTimeout(() => a.abort.abort('timeout'), task.timeoutMs);
      try {
        resultJson = resultToJson(await this.invoke(a, task, logger, span.traceparent()));
      } catch (err) {
        failure = err;
      } finally {
        clearTimeout(timer);
      }
    }
    const durationMs = performance.now() - startedAt;
    const held = this.d.failpoints?.hit('worker.after-execute', { taskId: task.id });
    if (held) await held;
    const reason = a.abort.reason;
    a.executed?.();

    span.setAttribute(
      'procurator.attempt.outcome',
      reason ?? (failure === undefined ? 'succeeded' : 'failed'),
    );
    if (reason === 'lease_lost' || reason === 'shutdown') {
      // Another worker owns the task now, or we are leaving: write nothing, ack nothing.
      this.d.events.emit('attempt_finished', { task, outcome: 'lost', durationMs });
      // The heartbeat noticed the lost lease first: this outcome is discarded here, not in write().
      if (reason === 'lease_lost') this.discardLate(a, 'heartbeat');
      logger.info({ reason }, 'attempt abandoned; the message stays for another worker');
      return;
    }
    const lease = a.lease!;
    // Chosen once per outcome, reused by every try of its write (see OutcomeIds).
    const ids = newOutcomeIds();
    if (reason === 'cancelled') {
      this.d.events.emit('attempt_finished', { task, outcome: 'cancelled', durationMs });
      const ended = await this.write(a, () => this.d.outcomes.cancelled(lease, this.d.workerId, ids));
      if (ended) await this.finish(a.message, ended);
      return;
    }
    if (failure === undefined) {
      try {
        const ended = await this.write(a, () =>
          this.d.outcomes.succeed(lease, this.d.workerId, resultJson, Math.round(durationMs), ids.first),
        );
        this.d.events.emit('attempt_finished', { task, outcome: 'succeeded', durationMs });
        if (ended) await this.finish(a.message, ended);
        return;
      } catch (err) {
        // Retrying cannot store what the database refuses: the task fails, not the write.
        if (!isRefusedValueError(err)) throw err;
        failure = new PermanentTaskError(
          `The database refused to store the result: ${cutText(coerceError(err).message, 300)}`,
          'result_refused',
        );
      }
    }
    const error: TaskError & { retryAfterMs?: number } =
      reason === 'timeout' ? describeTaskError(new TaskTimeoutError(task.timeoutMs)) : errorInfo(failure);
    span.fail(new Error(error.message));
    span.setAttribute('procurator.error.code', error.code);
    this.d.events.emit('attempt_finished', {
      task,
      outcome: reason === 'timeout' ? 'timeout' : 'failed',
      durationMs,
    });
    logger.info({ err: error }, 'attempt failed');
    const decision = decideFailure(error, task.attempts, task.maxAttempts, this.d.retry, this.d.random);
    const { retryAfterMs: _, ...stored } = error;
    const record = (e: TaskError) =>
      decision.kind === 'retry'
        ? this.d.outcomes.retry(lease, this.d.workerId, e, decision.delayMs, ids)
        : this.d.outcomes.die(lease, this.d.workerId, e, decision.reason, ids);
    let ended: TaskRecord | null | undefined;
    try {
      ended = await this.write(a, () => record(stored));
    } catch (err) {
      if (!isRefusedValueError(err)) throw err;
      // The error's own text (or one of its fields) is what the database refused.
      ended = await this.write(a, () =>
        record({
          message: 'The database refused to store this attempt’s error.',
          code: stored.code,
          retryable: stored.retryable,
        }),
      );
    }
    if (!ended) return;
    if (ended.status === 'retrying') {
      await this.d.queue.defer(a.message, {
        taskId: ended.id,
        seq: ended.enqueueSeq,
        queue: ended.queue,
        priority: ended.priority,
        type: ended.type,
        concurrencyKey: ended.concurrencyKey,
        dueAt: (ended.runAt ?? new Date()).getTime(),
      });
    } else if (ended.status === 'dead') {
      await this.deadLetter(a.message, ended);
      await this.ended(ended);
    } else {
      await this.finish(a.message, ended); // asked to cancel while it ran: not retried, not dead
    }
  }

  /** Runs the task's type; a fired signal wins the race even if the executor ignores it. */
  private async invoke(
    a: RunningAttempt,
    task: ClaimedTask,
    logger: Logger,
    traceparent: string,
  ): Promise<unknown> {
    const type = this.d.catalog.get(task.type);
    if (!type) {
      throw new PermanentTaskError(`This worker knows no task type ${task.type}.`, 'unknown_type');
    }
    let stopListening = () => {};
    const aborted = new Promise<never>((_, reject) => {
      stopListening = a.abort.onAbort((reason) => reject(new Error(`aborted: ${reason}`)));
    });
    const abort = a.abort;
    const running = type.run(
      {
        task: {
          id: task.id,
          type: task.type,
          queue: task.queue,
          payload: task.payload,
          attempt: task.attempts,
          maxAttempts: task.maxAttempts,
          timeoutMs: task.timeoutMs,
          metadata: task.metadata,
          createdBy: task.createdBy,
        },
        attempt: task.attempts,
        // Made only if the executor reads it (see AttemptAbort).
        get signal() {
          return abort.signal;
        },
        logger,
        traceparent,
      },
      this.d.services,
    );
    running.catch(() => undefined); // if the signal wins, a later rejection is expected
    try {
      return await Promise.race([running, aborted]);
    } finally {
      stopListening();
    }
  }

  /**
   * Makes outcome writes that are still retrying (the database unreachable) give up: the
   * shutdown's grace period is over. Their messages stay pending; another worker takes the
   * tasks over, and may run those attempts again.
   */
  abandonWrites(): void {
    this.graceOver.abort('shutdown');
  }

  /** A fenced outcome write. Null when the lease was lost: the late result is discarded. */
  private async write<T extends TaskSummary>(
    a: RunningAttempt,
    fn: () => Promise<T | null>,
  ): Promise<T | null | undefined> {
    const row = await withWriteRetries(fn, this.graceOver, this.d.logger, this.d.leaseMs);
    if (row === undefined) {
      this.d.logger.warn({ taskId: a.message.taskId }, 'outcome not written before the shutdown deadline');
      return undefined;
    }
    if (row === null) {
      this.discardLate(a, 'fenced_write');
      return null;
    }
    return row;
  }

  /**
   * Counts and logs a late outcome, once per attempt, whichever noticed the lost lease: the
   * heartbeat (the attempt is abandoned) or the fenced write (it changed no row). Nothing of
   * it is written and its message is not acknowledged: it belongs to the new owner.
   */
  private discardLate(a: RunningAttempt, noticedBy: 'heartbeat' | 'fenced_write'): void {
    if (this.discarded.has(a)) return;
    this.discarded.add(a);
    this.d.events.emit('late_result_discarded', { taskId: a.message.taskId, workerId: this.d.workerId });
    this.d.logger.warn(
      { taskId: a.message.taskId, workerId: this.d.workerId, noticedBy },
      'lease lost before the outcome was written; outcome discarded, message left to its new owner',
    );
  }

  private async finish(message: QueueMessage, task: TaskSummary): Promise<void> {
    const held = this.d.failpoints?.hit('worker.after-outcome', { taskId: message.taskId });
    if (held) await held;
    await this.d.queue.ack(message);
    await this.ended(task);
  }

  /** A task ended: announced, and the tasks waiting for it that its end released enqueued. */
  private async ended(task: TaskSummary): Promise<void> {
    this.d.events.emit('finished', { task });
    if (task.hasChildren) await this.d.dependents?.afterEnd([task]);
  }

  private async deadLetter(message: QueueMessage, task: TaskRecord): Promise<void> {
    await this.d.queue.deadLetter(message, task.enqueueSeq, {
      taskId: task.id,
      type: task.type,
      queue: task.queue,
      payload: task.payload,
      error: { message: task.lastError?.message ?? 'unknown', code: task.lastError?.code ?? 'unknown' },
      attempts: task.attempts,
    });
  }
}

function poisonError(deliveries: number): Error {
  return new PermanentTaskError(
    `The message was delivered ${deliveries} times, more than maxAttempts + ${EXTRA_DELIVERIES}: ` +
      'it keeps stopping the worker that runs it.',
    'poison_message',
  );
}

/** An executor's error as stored, with the upstream's Retry-After delay when it gave one. */
function errorInfo(err: unknown): TaskError & { retryAfterMs?: number } {
  const info = describeTaskError(err);
  return err instanceof RetryAfterError ? { ...info, retryAfterMs: err.delayMs } : info;
}
