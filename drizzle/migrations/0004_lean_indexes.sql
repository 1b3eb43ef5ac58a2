ALTER TABLE "task_events" DROP CONSTRAINT "task_events_task_id_tasks_id_fk";
--> statement-breakpoint
DROP INDEX "tasks_status_id_idx";--> statement-breakpoint
CREATE INDEX "tasks_dead_id_idx" ON "tasks" USING btree ("id") WHERE "tasks"."status" = 'dead';