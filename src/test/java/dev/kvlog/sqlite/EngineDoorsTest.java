package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.KVLog;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sqlite.SQLiteConnection;
import org.sqlite.SQLiteLimits;

/**
 * Engine parts of issue 10 that need package access: the load's chunk budget, post-commit faults.
 */
class EngineDoorsTest {
  @TempDir Path dir;

  /**
   * Defect 7 at the unit level: with SQLite's maximum length lowered to 20,000 bytes, a mix of
   * small rows, rows that fit only a few to a chunk, and rows too big to concatenate even alone (a
   * 19,990-byte value) all load.
   */
  @Test
  void load_rowsNearSqlitesLengthLimit_allLoad() throws Exception {
    Map<String, String> rows = new HashMap<>();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("t.db"))) {
      try (Statement s = c.createStatement()) {
        s.execute("CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT) STRICT, WITHOUT ROWID");
      }
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO kv VALUES (?, ?)")) {
        for (int i = 0; i < 300; i++) {
          String key = "k" + i;
          int size = i % 10 == 0 ? 19_990 : i % 3 == 0 ? 6_000 : i;
          String value = "v".repeat(size) + (i % 2 == 0 ? "" : "é");
          insert.setString(1, key);
          insert.setString(2, value);
          insert.executeUpdate();
          rows.put(key, value);
        }
      }
      c.unwrap(SQLiteConnection.class).setLimit(SQLiteLimits.SQLITE_LIMIT_LENGTH, 20_000);
      WarmCache cache = WarmCache.load(c, () -> {}, 8_000);
      Map<String, String> loaded = new HashMap<>();
      for (String key : rows.keySet()) {
        loaded.put(key, cache.get(key));
      }
      assertThat(cache.size()).isEqualTo(rows.size());
      assertThat(loaded).isEqualTo(rows);
    }
  }

  /**
   * Defect 12: an exception after COMMIT (here while publishing to the cache) must not report a
   * committed write as failed; the cache is repaired from the table.
   */
  @Test
  void set_failureAfterCommit_returnsNormally_andTheCacheIsRepaired() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v1");
      AtomicBoolean once = new AtomicBoolean();
      SqliteWriter.afterCommitHookForTests =
          p -> {
            if (p.equals(store.path()) && once.compareAndSet(false, true)) {
              throw new IllegalStateException("injected failure after COMMIT");
            }
          };
      try {
        assertThat(store.set("k", "v2")).contains("v1");
      } finally {
        SqliteWriter.afterCommitHookForTests = null;
      }
      assertThat(once).isTrue();
      assertThat(store.get("k")).contains("v2");
      try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
          ResultSet rs = c.createStatement().executeQuery("SELECT value FROM kv WHERE key='k'")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).isEqualTo("v2");
      }
      assertThat(store.set("k", "v3")).contains("v2");
    }
  }
}
