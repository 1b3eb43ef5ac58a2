import { z } from '@hono/zod-openapi';

/** An error answer (RFC 9457), as every route gives it: lib/errors.ts ProblemError.toJSON. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:procurator:problem:validation' }),
    title: z.string().openapi({ example: 'Unprocessable Content' }),
    status: z.int().openapi({ example: 422 }),
    detail: z.string().openapi({ example: 'The task is invalid.' }),
    requestId: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'For validation: what is wrong, and where.' }),
  })
  .openapi('Problem', { description: 'An error: application/problem+json (RFC 9457).' });

const WHY: Record<number, string> = {
  400: 'Malformed JSON, invalid UTF-8 or an unknown cursor.',
  401: 'Missing, unknown or revoked token (all alike).',
  403: 'The role is too low for this route, or for the task type.',
  404: 'Not found, including what the caller may not see.',
  409: 'The state does not allow it.',
  413: 'The body is larger than MAX_BODY_BYTES.',
  415: 'The body is not JSON.',
  422: 'The request is invalid; `errors` says where.',
  429: 'Rate limited; see Retry-After and RateLimit-*.',
  503: 'A dependency is down, or a read ran out of time; see Retry-After.',
};

/** The problem answers a route may give, each described and typed as Problem. */
export function problems(...statuses: (keyof typeof WHY)[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: WHY[s]!, content: { 'application/problem+json': { schema: ProblemSchema } } },
    ]),
  ) as Record<
    number,
    { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }
  >;
}

/** What every authenticated /v1 route may answer besides its own problems. */
export const V1_PROBLEMS = [401, 403, 429, 503] as const;
