ALTER TABLE "audit_log" ADD COLUMN IF NOT EXISTS "tx" "xid8" DEFAULT pg_current_xact_id();--> statement-breakpoint
ALTER TABLE "task_events" ADD COLUMN IF NOT EXISTS "tx" "xid8" DEFAULT pg_current_xact_id();--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "audit_log_tx_idx" ON "audit_log" USING btree ("tx");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "task_events_tx_idx" ON "task_events" USING btree ("tx");--> statement-breakpoint
-- Hand-written from here (drizzle-kit models neither functions nor triggers).
--
-- The live tail's wake-up (README "Live tail"): a statement that writes log rows (task events,
-- audit entries) may send a notification on channel `procurator_logs`, with no payload; each
-- API process with open streams listens, and reads what committed past its horizon by
-- (tx, id). A NOTIFY is not free: PostgreSQL serialises the commits of notifying transactions
-- on one database-wide lock, held through each commit's WAL flush, so a NOTIFY in every
-- transaction that ends a task would make those commits queue one behind another. Only the
-- first statement of each 25 ms tick notifies, then: the tick last claimed is kept in a
-- sequence, whose setval is not transactional and never waits, so a statement that finds its
-- tick already claimed adds nothing to its transaction (a clock read and a sequence read).
-- Rows of statements that did not notify are read by the listener's follow-up reads, made
-- a little after each notification, or with the next notification.
CREATE SEQUENCE procurator_log_tick AS bigint MINVALUE 0 START 0;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION procurator_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tick bigint := floor(extract(epoch FROM clock_timestamp()) * 40);
BEGIN
  IF tick > (SELECT last_value FROM procurator_log_tick) THEN
    PERFORM setval('procurator_log_tick', tick);
    PERFORM pg_notify('procurator_logs', '');
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER task_events_log_notify AFTER INSERT ON task_events
  FOR EACH STATEMENT EXECUTE FUNCTION procurator_log_notify();
--> statement-breakpoint
CREATE TRIGGER audit_log_log_notify AFTER INSERT ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION procurator_log_notify();
