CREATE TABLE "queue_states" (
	"name" text PRIMARY KEY NOT NULL,
	"paused_at" timestamp with time zone,
	"paused_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
