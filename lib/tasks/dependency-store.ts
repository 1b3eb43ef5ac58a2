import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import type { FieldProblem } from '../errors';
import { ValidationError } from '../errors';
import type { TaskRecord } from './task';
import { TERMINAL_STATUSES } from './task';
import { taskFromRow } from './task-row';
import type { NewTask } from './task-store';
import { insertRow, insertTasksSql, insertedTask } from './task-store';

const INSERT_DEPENDENT_SQL = insertTasksSql({ dependencies: true });

/** A fixed statement text with its one parameter `$1`, as drizzle SQL (for a transaction). */
function withInput(text: string, input: string): SQL {
  const at = text.indexOf('$1');
  return sql`${sql.raw(text.slice(0, at))}${input}${sql.raw(text.slice(at + 2))}`;
}

type Tx = Parameters<Parameters<Database['db']['transaction']>[0]>[0];

async function run<T = Record<string, unknown>>(tx: Tx, query: SQL): Promise<T[]> {
  const result: unknown = await tx.execute(query);
  return (result as { rows: T[] }).rows; // both drivers answer {rows}
}

/** Where a `dependsOn` entry was sent: `tasks[i].dependsOn[j]` in a batch, `dependsOn[j]` alone. */
export type EntryPath = (task: number, entry: number) => string;

/**
 * The database side of dependencies (README "Dependencies"): storing tasks that wait for
 * others, and finding, after a parent's end committed, the tasks that end released or
 * cancelled (the release itself is the trigger tasks_settle_dependents, migration 0010).
 */
export class DependencyStore {
  constructor(private readonly database: Database) {}

  /**
   * Stores the tasks of one submission, some of which wait for others, in one transaction:
   * all or none. Each is stored `waiting` with the number of its parents still to succeed;
   * the parents that already exist are then flagged and locked (`has_children`: from here on
   * their end, which waits for this transaction, settles these children too), and those that
   * had already ended are applied at once by the same function their end would have run — a
   * child of succeeded parents only is queued now (with its `dependencies_met`), a child of a
   * failed one is cancelled, and so are its own children in the batch. A parent that does not
   * exist, or that `owner` (a dev) may not see, refuses the whole submission (422, every
   * entry named). Returns the stored tasks, as they are once this commits; none when the one
   * task's idempotency key was already used.
   */
  async insert(tasks: readonly NewTask[], owner: string | undefined, path: EntryPath): Promise<TaskRecord[]> {
    const ids = tasks.map((t) => t.id);
    const parentsOf = tasks.map((t) => [
      ...new Set(t.dependsOn.map((r) => ('index' in r ? ids[r.index]! : r.taskId))),
    ]);
    const referenced = new Set(
      tasks.flatMap((t) => t.dependsOn.flatMap((r) => ('index' in r ? [r.index] : []))),
    );
    const stored = [
      ...new Set(tasks.flatMap((t) => t.dependsOn.flatMap((r) => ('taskId' in r ? [r.taskId] : [])))),
    ];
    const input = tasks.map((t, i) => ({
      ...insertRow(t),
      depends_on: parentsOf[i]!.length > 0 ? parentsOf[i] : null,
      unmet_dependencies: parentsOf[i]!.length > 0 ? parentsOf[i]!.length : null,
      has_children: referenced.has(i),
    }));
    return this.database.db.transaction(async (tx) => {
      const rows = await run(tx, withInput(INSERT_DEPENDENT_SQL, JSON.stringify(input)));
      if (rows.length === 0) return [];
      const found = new Map<string, string>();
      if (stored.length > 0) {
        // Locked in id order (the index scan of = ANY), like every multi-row lock here.
        const visible = owner === undefined ? sql`` : sql` AND created_by = ${owner}`;
        const parents = await run<{ id: string; status: string }>(
          tx,
          sql`UPDATE tasks SET has_children = true
              WHERE id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(stored)}::jsonb)))${visible}
              RETURNING id::text, status`,
        );
        for (const p of parents) found.set(p.id, p.status);
        const missing: FieldProblem[] = [];
        tasks.forEach((t, i) => {
          for (const r of t.dependsOn) {
            if ('taskId' in r && !found.has(r.taskId)) {
              missing.push({
                path: path(i, r.at),
                message: `no task ${r.taskId} that you can see: it does not exist, is another user's, or was deleted by retention`,
              });
            }
          }
        });
        if (missing.length > 0) {
          throw new ValidationError(
            'Some tasks named in dependsOn cannot be found; nothing was accepted.',
            missing,
          );
        }
      }
      const edges = tasks.flatMap((t, i) => parentsOf[i]!.map((p) => ({ p, c: t.id })));
      await run(
        tx,
        sql`INSERT INTO task_dependencies (parent_id, child_id)
            SELECT p, c FROM jsonb_to_recordset(${JSON.stringify(edges)}::jsonb) AS x(p uuid, c uuid)`,
      );
      const ended = edges.flatMap((e) => {
        const s = found.get(e.p);
        return s !== undefined && TERMINAL_STATUSES.has(s as TaskRecord['status']) ? [{ ...e, s }] : [];
      });
      if (ended.length === 0) {
        const byId = new Map(rows.map((r) => [String(r.id), r]));
        return tasks.map((t, i) =>
          insertedTask(t, byId.get(t.id)!, { dependsOn: parentsOf[i]!, hasChildren: referenced.has(i) }),
        );
      }
      await run(
        tx,
        sql`SELECT procurator_dependencies_ended(array_agg(x.c), array_agg(x.p), array_agg(x.s))
            FROM jsonb_to_recordset(${JSON.stringify(ended)}::jsonb) AS x(c uuid, p uuid, s text)`,
      );
      const now = await run(
        tx,
        sql`SELECT * FROM tasks WHERE id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)))`,
      );
      const byId = new Map(now.map((r) => [String(r.id), taskFromRow(r)]));
      return ids.map((id) => byId.get(id)!);
    });
  }

  /**
   * After the end of `parentIds` committed: the tasks that end released (queued or scheduled,
   * by a `dependencies_met` that names one of them) or cancelled because of it (a
   * `dependency_failed` naming it, and below those, what that cancellation cancelled). A task
   * settled by another parent's end is that end's to report, so each is reported once.
   */
  async settledBy(parentIds: readonly string[]): Promise<TaskRecord[]> {
    if (parentIds.length === 0) return [];
    const rows = await this.database.rows(sql`
      WITH RECURSIVE settled (id, status) AS (
        SELECT c.id, c.status
        FROM task_dependencies d JOIN tasks c ON c.id = d.child_id
        WHERE d.parent_id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(parentIds)}::jsonb)))
          AND ((c.status IN ('queued', 'scheduled') AND EXISTS (
                  SELECT 1 FROM task_events e
                  WHERE e.task_id = c.id AND e.kind = 'dependencies_met' AND e.data->>'parentId' = d.parent_id::text))
            OR (c.status = 'cancelled' AND c.last_error->>'code' = 'dependency_failed'
                AND c.last_error->>'parentId' = d.parent_id::text))
        UNION
        SELECT c.id, c.status
        FROM settled s JOIN task_dependencies d ON d.parent_id = s.id JOIN tasks c ON c.id = d.child_id
        WHERE s.status = 'cancelled' AND c.status = 'cancelled' AND c.last_error->>'code' = 'dependency_failed'
          AND c.last_error->>'parentId' = d.parent_id::text
      )
      SELECT t.* FROM tasks t WHERE t.id IN (SELECT id FROM settled) ORDER BY t.id`);
    return rows.map(taskFromRow);
  }
}
