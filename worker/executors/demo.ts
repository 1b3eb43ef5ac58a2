import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineTaskType } from '../../lib/catalog/task-type';
import { PermanentTaskError, RetryableTaskError } from '../../lib/errors';

/** Types for trying Procurator out and for tests: no side effects outside the worker. */

/** demo.echo: the payload is the result. */
export const demoEcho = defineTaskType({
  type: 'demo.echo',
  description: 'Succeeds at once with the payload as its result.',
  payload: z.record(z.string(), z.unknown()),
  execute: ({ task }) => Promise.resolve(task.payload),
});

/** demo.sleep: waits payload.ms, or less when the attempt is aborted. */
export const demoSleep = defineTaskType({
  type: 'demo.sleep',
  description: 'Sleeps for payload.ms milliseconds (0-600000), stopping early when cancelled.',
  payload: z.strictObject({ ms: z.number().int().min(0).max(600_000) }),
  async execute({ task, signal }) {
    const started = Date.now();
    await sleep(task.payload.ms, undefined, { signal });
    return { sleptMs: Date.now() - started };
  },
});

/** demo.fail: always fails, retryable unless the payload says otherwise. */
export const demoFail = defineTaskType({
  type: 'demo.fail',
  description: 'Always fails with payload.message; retryable unless payload.retryable is false.',
  payload: z.strictObject({
    message: z.string().max(2000).optional(),
    retryable: z.boolean().optional(),
  }),
  execute({ task }) {
    const message = task.payload.message ?? 'demo.fail failed, as it always does';
    return Promise.reject(
      task.payload.retryable === false
        ? new PermanentTaskError(message, 'demo_failure')
        : new RetryableTaskError(message, 'demo_failure'),
    );
  },
});
