import { z } from '@hono/zod-openapi';
import { submissionSchema } from '../../lib/tasks/submission';
import { PRIORITIES, TASK_STATUSES } from '../../lib/tasks/task';
import { pageOf } from './common';

const when = z.iso.datetime();

export const TaskErrorSchema = z
  .object({ message: z.string(), code: z.string(), retryable: z.boolean() })
  .catchall(z.unknown())
  .openapi('TaskError', { description: 'Why the last attempt failed.' });

export const TaskSchema = z
  .object({
    id: z.uuid(),
    type: z.string(),
    queue: z.string(),
    priority: z.enum(PRIORITIES),
    concurrencyKey: z.string().nullable().openapi({
      description: 'Fair-sharing key: inside a queue, tasks of different keys start round-robin.',
    }),
    status: z.enum(TASK_STATUSES),
    payload: z.unknown().openapi({ description: 'As submitted.' }),
    result: z.unknown().openapi({ description: 'What the executor returned; null until it succeeded.' }),
    lastError: z.union([TaskErrorSchema, z.null()]),
    attempts: z.int(),
    maxAttempts: z.int(),
    timeoutMs: z.int(),
    runAt: when.nullable(),
    callbackUrl: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    createdBy: z.string(),
    createdAt: when,
    startedAt: when.nullable(),
    finishedAt: when.nullable(),
    updatedAt: when,
    traceId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .openapi({
        description:
          'The W3C trace of the task: from the submission’s `traceparent`, else a new one. Its attempts, outbound `http` requests and callbacks are in it.',
        example: '4bf92f3577b34da6a3ce929d0e0e4736',
      }),
    scheduleId: z
      .uuid()
      .nullable()
      .openapi({
        description:
          'The schedule that fired it (kept after the schedule is deleted); null for a task a client submitted.',
      }),
    dependsOn: z.array(z.uuid()).openapi({
      description:
        'The tasks it waits for ([] when none): it is `waiting` until all of them have succeeded (then `dependencies_met`), and ends `cancelled` with `lastError.code` `dependency_failed` if one of them ends dead, cancelled or discarded.',
    }),
  })
  .openapi('Task');

export const TaskEventSchema = z
  .object({
    id: z.uuid(),
    taskId: z.uuid(),
    at: when,
    kind: z.string().openapi({ example: 'started' }),
    attempt: z.int(),
    workerId: z.string().nullable(),
    message: z.string().nullable(),
    data: z.unknown(),
  })
  .openapi('TaskEvent');

export const SubmissionSchema = submissionSchema.openapi('Submission', {
  description: 'A task to run. Only `type` is required; `payload` must match the type’s schema.',
});

export const BatchSchema = z
  .strictObject({ tasks: z.array(SubmissionSchema).min(1).max(1000) })
  .openapi('Batch', { description: '1 to 1000 tasks, accepted all or none.' });

export const TaskPageSchema = pageOf(TaskSchema).openapi('TaskPage');
export const TaskEventListSchema = z.object({ items: z.array(TaskEventSchema) }).openapi('TaskEventList');
