import type { components } from './openapi-types';

/** An error answer of the API (application/problem+json). */
export type Problem = components['schemas']['Problem'];

/** A request the API refused: `status` and the `problem` it answered. */
export class ProcuratorError extends Error {
  override readonly name = 'ProcuratorError';

  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.title}: ${problem.detail}`);
  }
}

/** `waitFor` ran out of time: the task had not ended. */
export class ProcuratorTimeoutError extends Error {
  override readonly name = 'ProcuratorTimeoutError';

  constructor(
    readonly taskId: string,
    readonly lastStatus: string,
    timeoutMs: number,
  ) {
    super(`task ${taskId} did not end within ${timeoutMs} ms (it is ${lastStatus})`);
  }
}
