ALTER TABLE "queue_states" ADD COLUMN "created_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "audit_log_action_id_idx" ON "audit_log" USING btree ("action","id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "audit_log_target_id_idx" ON "audit_log" USING btree ("target","id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "task_events_kind_id_idx" ON "task_events" USING btree ("kind","id");--> statement-breakpoint
-- Hand-written: every queue a task was ever submitted to is registered, so that MAX_QUEUES
-- counts the queues an existing deployment already has.
INSERT INTO "queue_states" ("name", "created_at")
SELECT "queue", min("created_at") FROM "tasks" GROUP BY "queue"
ON CONFLICT ("name") DO NOTHING;
