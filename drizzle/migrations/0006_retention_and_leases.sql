CREATE TABLE "leases" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"acquired_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Hand-edited (IF NOT EXISTS): on a large `tasks` this build holds writes to the table while it
-- runs; the README's upgrade note says how to build it first with CREATE INDEX CONCURRENTLY.
CREATE INDEX IF NOT EXISTS "tasks_ended_idx" ON "tasks" USING btree ("status","updated_at") WHERE "tasks"."status" in ('succeeded','cancelled','discarded','dead');
