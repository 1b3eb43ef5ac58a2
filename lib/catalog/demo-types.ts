import { z } from 'zod';
import type { TaskTypeDefinition } from './task-catalog';

/** Types for trying Procurator out and for tests: no side effects outside the worker. */
export const demoTypes: TaskTypeDefinition[] = [
  {
    type: 'demo.echo',
    description: 'Succeeds at once with the payload as its result.',
    payload: z.record(z.string(), z.unknown()),
  },
  {
    type: 'demo.sleep',
    description: 'Sleeps for payload.ms milliseconds (0-600000), stopping early when cancelled.',
    payload: z.strictObject({ ms: z.number().int().min(0).max(600_000) }),
  },
  {
    type: 'demo.fail',
    description: 'Always fails with payload.message; retryable unless payload.retryable is false.',
    payload: z.strictObject({
      message: z.string().max(2000).optional(),
      retryable: z.boolean().optional(),
    }),
  },
];
