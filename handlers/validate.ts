import { zValidator } from '@hono/zod-validator';
import type { ZodType } from 'zod';
import { ValidationError } from '../lib/errors';
import { zodProblems } from '../lib/tasks/submission';

/** zod validation of a request part; a failure is a 422 problem naming each bad field. */
export function valid<T extends ZodType, Target extends 'query' | 'param'>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      throw new ValidationError(
        `The request ${target === 'query' ? 'query string' : 'path'} is invalid.`,
        zodProblems(target, result.error),
      );
    }
  });
}
