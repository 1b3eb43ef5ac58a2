ALTER TABLE "tasks" ADD COLUMN "trace_id" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "parent_span_id" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "trace_flags" smallint;