-- KVLog schema, version 1 (SQLite).
-- Applied once, in one transaction, by dev.kvlog.internal.Migrations; the version it installs is
-- recorded in kvlog_schema. The file name follows Flyway's V<version>__<description>.sql.

-- 'KVLG' in the database header: marks this file as a KVLog store (sqlite3: PRAGMA application_id).
PRAGMA application_id = 1263946823;

-- The store. TEXT keys and values keep the table readable with plain SQL; WITHOUT ROWID stores
-- each row once, in key order, in the primary-key B-tree.
CREATE TABLE kv (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Which schema versions are installed. KVLog refuses to open a store whose newest version is
-- newer than the build knows.
CREATE TABLE kvlog_schema (
  version      INTEGER NOT NULL PRIMARY KEY,
  description  TEXT    NOT NULL,
  installed_on TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
