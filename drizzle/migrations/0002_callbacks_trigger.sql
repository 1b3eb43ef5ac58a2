-- Hand-written (drizzle-kit does not model functions or triggers).
--
-- Every change of a task's status to an end (succeeded, dead, cancelled) writes one row to
-- the callback outbox when the task has a callback_url, inside the transaction that ends the
-- task: the worker's outcome, a lost worker, an API cancellation and any later path alike,
-- none of which need to know about callbacks. A committed end therefore always has its
-- delivery, and a rolled-back one never does.
--
-- A UUIDv7 made in SQL (PostgreSQL < 18 has no uuidv7()): the first 48 bits are the Unix
-- time in milliseconds, the rest random, with the version nibble set to 7 (bits 52 and 53
-- added to gen_random_uuid's version 4) and its RFC 4122 variant kept. Delivery ids sort by
-- creation, like every other id.
CREATE OR REPLACE FUNCTION procurator_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;
--> statement-breakpoint
-- ON CONFLICT DO NOTHING: the unique index allows one delivery per task run and event, and
-- the trigger must never make the task's own transition fail.
CREATE OR REPLACE FUNCTION procurator_callback_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO callback_deliveries (id, task_id, run, event, url, task)
  VALUES (procurator_uuid_v7(), NEW.id, NEW.replays, 'task.' || NEW.status, NEW.callback_url, to_jsonb(NEW))
  ON CONFLICT (task_id, run, event) DO NOTHING;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tasks_callback_outbox
  AFTER UPDATE OF status ON tasks
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status
        AND NEW.status IN ('succeeded', 'dead', 'cancelled')
        AND NEW.callback_url IS NOT NULL)
  EXECUTE FUNCTION procurator_callback_outbox();
