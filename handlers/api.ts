import { OpenAPIHono } from '@hono/zod-openapi';
import { ValidationError } from '../lib/errors';
import { zodProblems } from '../lib/tasks/submission';
import type { AppEnv } from './context';

/** The app every route module registers its handlers on. */
export type Api = OpenAPIHono<AppEnv>;

const WHAT: Record<string, string> = {
  json: 'The request body is invalid.',
  query: 'The request query string is invalid.',
  param: 'The request path is invalid.',
  header: 'A request header is invalid.',
};

/**
 * An app whose route validators (the zod schemas of the route table) fail the one way every
 * other refusal does: a ValidationError, 422 problem+json naming each bad field.
 */
export function newApi(): Api {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const prefix = result.target === 'json' ? '' : result.target;
        throw new ValidationError(
          WHAT[result.target] ?? 'The request is invalid.',
          zodProblems(prefix, result.error),
        );
      }
    },
  });
}
