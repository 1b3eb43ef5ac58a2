import type { FieldProblem } from '../errors';

/**
 * What one `dependsOn` entry names (README "Dependencies"): a stored task by its id, or a task
 * of the same batch by its index (`"$0"`, `"$1"`, …). `at`: the entry's place in the array
 * as sent, for error paths.
 */
export type DependencyRef = ({ taskId: string } | { index: number }) & { at: number };

/** Parents one task may wait for. */
export const MAX_DEPENDENCIES = 100;

/** A task id (any UUID), or `$<index>` of a batch of at most 1000 (0 to 999). */
export const DEPENDENCY_REF_RE =
  /^(?:\$(?:0|[1-9]\d{0,2})|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

export const DEPENDENCY_REF_MESSAGE =
  'must be a task id, or "$<index>" naming an earlier task of the same batch';

/**
 * The entries of one task's `dependsOn` (each already matched DEPENDENCY_REF_RE), each parent
 * once: a repeated entry is dropped, keeping the first. `batchIndex` is the task's place in
 * its batch (null for a single submission, where `$n` names nothing). A batch task may only
 * name tasks stored before (by id) or earlier in its batch (`$n`, n below its own index), so
 * no cycle can ever form.
 */
export function resolveDependencyRefs(
  entries: readonly string[] | undefined,
  path: (i: number) => string,
  batchIndex: number | null,
): { refs: DependencyRef[]; errors: FieldProblem[] } {
  const refs: DependencyRef[] = [];
  const errors: FieldProblem[] = [];
  const seen = new Set<string>();
  (entries ?? []).forEach((entry, i) => {
    if (entry.startsWith('$')) {
      const index = Number(entry.slice(1));
      if (batchIndex === null) {
        errors.push({
          path: path(i),
          message: `${entry} names a task of the same batch, which only POST /v1/tasks/batch has: name a stored task by its id`,
        });
        return;
      }
      if (index >= batchIndex) {
        errors.push({
          path: path(i),
          message: `${entry} must name an earlier task of this batch (an index below ${batchIndex}): a task can only wait for tasks before it`,
        });
        return;
      }
      if (!seen.has(entry)) refs.push({ index, at: i });
      seen.add(entry);
      return;
    }
    const taskId = entry.toLowerCase();
    if (!seen.has(taskId)) refs.push({ taskId, at: i });
    seen.add(taskId);
  });
  return { refs, errors };
}
