import type { ClaimedTask } from '../lib/tasks/task';
import { spanParentOf } from '../lib/tasks/task-trace';
import type { TraceSpan, Tracing } from '../lib/tracing/tracing';

/**
 * The span of one attempt (README "Tracing"): a child of the span the task's submission left,
 * named for its type (few names: trace backends group by them). Attributes are built only when
 * they are exported: with tracing off this is a few random bytes per attempt.
 */
export function startAttemptSpan(tracing: Tracing, task: ClaimedTask, workerId: string): TraceSpan {
  return tracing.start(`run ${task.type}`, spanParentOf(task), {
    kind: 'consumer',
    attributes: tracing.exporting
      ? {
          'procurator.task.id': task.id,
          'procurator.task.type': task.type,
          'procurator.task.queue': task.queue,
          'procurator.task.attempt': task.attempts,
          'procurator.worker.id': workerId,
        }
      : undefined,
  });
}
