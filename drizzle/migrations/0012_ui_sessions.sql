CREATE TABLE "ui_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"csrf_token" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "ui_sessions_user_idx" ON "ui_sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "ui_sessions_last_seen_idx" ON "ui_sessions" USING btree ("last_seen_at");