-- KVLog schema, version 2 (PostgreSQL): every change carries a version, and the change feed
-- notifies that version (a bounded payload) instead of the key.
--
-- Invariant kept here: every row of kv and of kv_tombstone has a version drawn from kv_version at
-- its last change, and a later change of a key always has a larger version than an earlier one.
-- UPDATE and DELETE draw theirs after taking the row lock, so row locks order them. An INSERT draws
-- its version before it may wait for a concurrent DELETE of the same key; if that DELETE's
-- tombstone turns out newer, the INSERT fails with serialization_failure (40001, not applied) and
-- KVLog retries it. Instances cache (value, version) and move a
-- key forward only, which is what makes their reads monotonic and read-your-writes.
-- Versions of different keys are NOT in commit order (a sequence value is drawn before commit), so
-- "version > last seen" is no catch-up rule; instances catch up by a full, forward-only reload.

DROP TRIGGER kv_changed ON kv;
DROP FUNCTION kvlog_notify();

CREATE SEQUENCE kv_version;

-- Existing rows get distinct versions (a volatile default is evaluated for each row).
ALTER TABLE kv ADD COLUMN version BIGINT NOT NULL DEFAULT nextval('kv_version');
CREATE INDEX kv_by_version ON kv (version);

-- The version at which each absent key was deleted; a (re)insert removes its tombstone. Readers
-- take the newer of a key's row and tombstone.
CREATE TABLE kv_tombstone (
  key     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  version BIGINT NOT NULL
);
CREATE INDEX kv_tombstone_by_version ON kv_tombstone (version);

-- Every INSERT and UPDATE, from KVLog or any other client, takes a new version.
CREATE FUNCTION kvlog_stamp() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  NEW.version := nextval('kv_version');
  RETURN NEW;
END
$$;

CREATE TRIGGER kv_stamp BEFORE INSERT OR UPDATE ON kv
  FOR EACH ROW EXECUTE FUNCTION kvlog_stamp();

-- Every committed change notifies channel "kvlog:<schema>" with its version (digits only, so any
-- key length fits); listeners fetch the rows of that version. Notifications are sent at commit, in
-- commit order.
CREATE FUNCTION kvlog_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v BIGINT;
BEGIN
  IF TG_OP = 'DELETE' THEN
    v := nextval('kv_version');
    INSERT INTO kv_tombstone(key, version) VALUES (OLD.key, v)
      ON CONFLICT (key) DO UPDATE SET version = excluded.version;
  ELSE
    v := NEW.version;
    IF TG_OP = 'INSERT' THEN
      DELETE FROM kv_tombstone t WHERE t.key = NEW.key RETURNING t.version INTO v;
      IF v IS NOT NULL AND v >= NEW.version THEN
        RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
          MESSAGE = 'kvlog: this insert raced a delete of the same key; retry it';
      END IF;
      v := NEW.version;
    END IF;
  END IF;
  PERFORM pg_notify('kvlog:' || TG_TABLE_SCHEMA, v::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER kv_changed AFTER INSERT OR UPDATE OR DELETE ON kv
  FOR EACH ROW EXECUTE FUNCTION kvlog_changed();
