-- KVLog schema, version 1 (PostgreSQL).
-- Applied once, in one transaction, by dev.kvlog.internal.Migrations (under an advisory lock, so
-- instances starting together do not race); the version it installs is recorded in kvlog_schema.
-- The file name follows Flyway's V<version>__<description>.sql. Tables go into the connection's
-- current schema (choose one with ?currentSchema=... in the JDBC URL).

-- The store. COLLATE "C" orders keys by their UTF-8 bytes (Unicode code points), as SQLite does.
CREATE TABLE kv (
  key   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);

-- Which schema versions are installed. KVLog refuses to open a store whose newest version is
-- newer than the build knows.
CREATE TABLE kvlog_schema (
  version      INTEGER     NOT NULL PRIMARY KEY,
  description  TEXT        NOT NULL,
  installed_on TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every committed change to kv notifies channel "kvlog:<schema>" with the key, so each KVLog
-- instance brings its cache in line. Notifications are sent at commit, in commit order. A key too
-- long for a notification payload sends '' instead: reload everything.
CREATE FUNCTION kvlog_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END;
BEGIN
  PERFORM pg_notify('kvlog:' || TG_TABLE_SCHEMA,
                    CASE WHEN octet_length(changed) < 7000 THEN changed ELSE '' END);
  RETURN NULL;
END
$$;

CREATE TRIGGER kv_changed AFTER INSERT OR UPDATE OR DELETE ON kv
  FOR EACH ROW EXECUTE FUNCTION kvlog_notify();
