CREATE TABLE "task_dependencies" (
	"parent_id" uuid NOT NULL,
	"child_id" uuid NOT NULL,
	CONSTRAINT "task_dependencies_parent_id_child_id_pk" PRIMARY KEY("parent_id","child_id")
);
--> statement-breakpoint
ALTER TABLE "tasks" DROP CONSTRAINT "tasks_status_check";--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "depends_on" uuid[];--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "unmet_dependencies" integer;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "has_children" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_status_check" CHECK ("tasks"."status" in ('waiting','scheduled','queued','running','retrying','succeeded','dead','cancelled','discarded'));--> statement-breakpoint
-- Hand-written from here on (drizzle-kit does not model functions or triggers).
--
-- A task's end settles the tasks that depend on it (README "Dependencies"), inside the
-- transaction that ends it, whichever path ends it (an outcome, a lost worker, a cancel, a
-- discard) — as the callback outbox does (0002). `children`, `parents` and `statuses` are
-- edges: child `children[i]` depends on `parents[i]`, which ended `statuses[i]`.
--   - A succeeded parent counts down each waiting child's unmet_dependencies; a child at 0
--     becomes queued (scheduled while its runAt is ahead) with a `dependencies_met` event.
--     The decrement is an UPDATE of the child's row: two parents ending at once in two
--     transactions take its row lock in turn, the second sees the first's count, and exactly
--     one of them releases it.
--   - A failed parent (dead, cancelled, discarded) cancels every waiting task below it
--     (lastError.code dependency_failed, naming the parent it waited for) in one statement,
--     found by a recursive walk rather than by the cancelled children's own triggers, so a
--     long chain is never a deep trigger recursion.
-- Children are locked in id order within a statement, like the worker's claims. The API's
-- submission calls it too, for the parents that had ended before their children were stored.
CREATE OR REPLACE FUNCTION procurator_dependencies_ended(children uuid[], parents uuid[], statuses text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  WITH RECURSIVE doomed (child_id, parent_id, parent_status, depth) AS (
    SELECT e.child_id, e.parent_id, e.parent_status, 0
    FROM unnest(children, parents, statuses) AS e(child_id, parent_id, parent_status)
    WHERE e.parent_status <> 'succeeded'
    UNION
    SELECT d.child_id, d.parent_id, 'cancelled'::text, x.depth + 1
    FROM doomed x
    JOIN task_dependencies d ON d.parent_id = x.child_id
    JOIN tasks w ON w.id = d.child_id AND w.status = 'waiting'
  ), cause AS (
    SELECT DISTINCT ON (child_id) child_id, parent_id, parent_status
    FROM doomed ORDER BY child_id, depth, parent_id
  ), cancelled AS (
    UPDATE tasks c SET status = 'cancelled', finished_at = now(), updated_at = now(),
      last_error = jsonb_build_object(
        'message', format('Task %s, which this task depends on, ended %s.', f.parent_id, f.parent_status),
        'code', 'dependency_failed', 'retryable', false,
        'parentId', f.parent_id, 'parentStatus', f.parent_status)
    FROM cause f
    WHERE c.id = ANY(ARRAY(SELECT child_id FROM cause ORDER BY child_id)) AND c.id = f.child_id
      AND c.status = 'waiting'
    RETURNING c.id, c.replays, f.parent_id, f.parent_status
  )
  INSERT INTO task_events (id, task_id, run, kind, attempt, message, data)
  SELECT procurator_uuid_v7(), id, replays, 'cancelled', 0,
         format('not run: task %s, which it depends on, ended %s', parent_id, parent_status),
         jsonb_build_object('reason', 'dependency_failed', 'parentId', parent_id, 'parentStatus', parent_status)
  FROM cancelled;

  WITH met AS (
    SELECT e.child_id, count(*)::int AS n, max(e.parent_id::text)::uuid AS parent_id
    FROM unnest(children, parents, statuses) AS e(child_id, parent_id, parent_status)
    WHERE e.parent_status = 'succeeded'
    GROUP BY e.child_id
  ), released AS (
    UPDATE tasks c SET unmet_dependencies = c.unmet_dependencies - m.n,
      status = CASE WHEN c.unmet_dependencies > m.n THEN 'waiting'
                    WHEN c.run_at > now() THEN 'scheduled' ELSE 'queued' END,
      updated_at = now()
    FROM met m
    WHERE c.id = ANY(ARRAY(SELECT child_id FROM met ORDER BY child_id)) AND c.id = m.child_id
      AND c.status = 'waiting'
    RETURNING c.id, c.replays, c.status, m.parent_id
  )
  INSERT INTO task_events (id, task_id, run, kind, attempt, message, data)
  SELECT procurator_uuid_v7(), id, replays, 'dependencies_met', 0, 'every task it depends on succeeded',
         jsonb_build_object('parentId', parent_id, 'status', status)
  FROM released WHERE status <> 'waiting';
END
$$;
--> statement-breakpoint
-- The children are read by a statement of the trigger's own, after the parent's row was
-- updated: under READ COMMITTED each statement of a volatile function takes a fresh snapshot,
-- so a child whose submission committed while this end waited for the parent's row lock (the
-- submission holds it from the moment it flags the parent) is seen. A CTE of the ending
-- statement itself would use that statement's older snapshot and miss it.
CREATE OR REPLACE FUNCTION procurator_settle_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kids uuid[];
BEGIN
  kids := ARRAY(SELECT child_id FROM task_dependencies WHERE parent_id = NEW.id ORDER BY child_id);
  IF cardinality(kids) > 0 THEN
    PERFORM procurator_dependencies_ended(kids, array_fill(NEW.id, ARRAY[cardinality(kids)]),
                                          array_fill(NEW.status, ARRAY[cardinality(kids)]));
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- has_children first: for a task nothing depends on (nearly all), the end pays this test only.
CREATE TRIGGER tasks_settle_dependents
  AFTER UPDATE OF status ON tasks
  FOR EACH ROW
  WHEN (NEW.has_children AND NEW.status IS DISTINCT FROM OLD.status
        AND NEW.status IN ('succeeded', 'dead', 'cancelled', 'discarded'))
  EXECUTE FUNCTION procurator_settle_dependents();
