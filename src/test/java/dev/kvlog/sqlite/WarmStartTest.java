package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.KVLog;
import dev.kvlog.WriteBatch;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Opening a store through the two-way load: the load pins one snapshot without holding SQLite's
 * write lock, so another process's writer is never refused during it, and what it commits while the
 * table loads is in the cache when {@code open} returns (never lost, never late).
 */
class WarmStartTest {
  @TempDir Path dir;

  @Test
  void open_externalWriterCommitsMidLoad_commitSucceedsAtOnce_andTheOpenedStoreHoldsIt()
      throws Exception {
    Path file = dir.resolve("kv.db");
    int size = 200_000;
    try (KVLog<String, String> store = KVLog.open(file)) {
      for (int from = 0; from < size; from += 20_000) {
        WriteBatch<String, String> batch = new WriteBatch<>();
        for (int i = from; i < from + 20_000; i++) {
          batch.set(String.format("key-%07d", i), "value-" + i);
        }
        store.write(batch);
      }
    }
    List<String> outcome = new ArrayList<>();
    try (Connection other = DriverManager.getConnection("jdbc:sqlite:" + file)) {
      try (Statement s = other.createStatement()) {
        s.execute("PRAGMA busy_timeout = 0"); // any lock held by the load fails it at once
      }
      TwoWayLoader.hookForTests =
          (up, event) -> {
            if (up && event.equals("claimed") && outcome.isEmpty()) { // mid-load, both reading
              try (Statement s = other.createStatement()) {
                s.executeUpdate("UPDATE kv SET value = 'external' WHERE key = 'key-0000007'");
                s.executeUpdate("DELETE FROM kv WHERE key = 'key-0199990'");
                s.executeUpdate("INSERT INTO kv VALUES ('added', 'by sqlite3')");
                outcome.add("committed");
              } catch (SQLException e) {
                outcome.add("failed " + Errors.primaryCode(e) + ": " + e.getMessage());
              }
            }
          };
      try (KVLog<String, String> store = KVLog.open(file)) {
        TwoWayLoader.hookForTests = null;
        assertThat(outcome).containsExactly("committed");
        assertThat(store.get("key-0000007")).contains("external");
        assertThat(store.get("key-0199990")).isEmpty();
        assertThat(store.get("added")).contains("by sqlite3");
        assertThat(store.get("key-0199989")).contains("value-199989");
        assertThat(store.size()).isEqualTo(size);
      } finally {
        TwoWayLoader.hookForTests = null;
      }
    }
  }
}
