package dev.kvlog;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;

/**
 * A store and a second, plain SQLite connection to its file, for tests where another tool writes
 * beside KVLog. The store does not poll for external changes, so each test decides when KVLog looks
 * (a write, or {@code refresh()}), and waits up to 30 s for SQLite's lock.
 */
final class ExternalSqlite {
  private ExternalSqlite() {}

  static KVLog<String, String> open(Path db) {
    return open(db, CacheMode.WHOLE);
  }

  /** The same store in cache mode {@code mode}. */
  static KVLog<String, String> open(Path db, CacheMode mode) {
    return mode.builder(db)
        .busyTimeout(Duration.ofSeconds(30))
        .externalChangeCheck(Duration.ZERO)
        .open();
  }

  /** A connection of "another tool": plain sqlite-jdbc, auto-commit, no KVLog involved. */
  static Connection sqlite(Path db) throws Exception {
    return DriverManager.getConnection("jdbc:sqlite:" + db);
  }
}
