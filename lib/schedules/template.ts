import { ValidationError } from '../errors';
import { taskTemplateSchema, zodProblems } from '../tasks/submission';
import type { AcceptedSubmission } from '../tasks/submission';

/** How a refusal names the schedule's owner, as whom its tasks are submitted. */
export const OWNER = "the schedule's owner";

/**
 * A stored task template as a submission to check again (README "Schedules"): parsed as the
 * route parsed it, and kept as it was sent (payload and metadata are stored as sent).
 */
export function storedTemplate(task: Record<string, unknown>): AcceptedSubmission {
  const parsed = taskTemplateSchema.safeParse(task);
  if (!parsed.success)
    throw new ValidationError("The schedule's task is invalid.", zodProblems('task', parsed.error));
  return { accepted: parsed.data, body: task };
}
