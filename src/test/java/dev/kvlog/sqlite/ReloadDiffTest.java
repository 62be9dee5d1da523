package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.CorruptValueException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reload's streaming diff ({@link WarmCache#differencesFrom}) against a model: a cache built
 * from one map, a table holding another, and the expected differences computed with HashMaps.
 */
class ReloadDiffTest {
  @TempDir Path dir;

  @Test
  void differencesFrom_randomEdits_findsEveryInsertUpdateAndDelete() throws Exception {
    for (int round = 0; round < 40; round++) {
      Random random = new Random(round);
      Map<String, String> cached = new HashMap<>();
      int n = round % 4 == 0 ? random.nextInt(4) : random.nextInt(3000);
      for (int i = 0; i < n; i++) {
        cached.put("k" + random.nextInt(5000), "v" + random.nextInt(1000));
      }
      // The table: the cache edited. Some rounds only delete, only insert, only update or nothing.
      int kind = round % 5;
      Map<String, String> table = new HashMap<>(cached);
      for (String key : Set.copyOf(cached.keySet())) {
        int dice = random.nextInt(10);
        if (dice == 0 && (kind == 0 || kind == 1)) {
          table.remove(key);
        } else if (dice == 1 && (kind == 0 || kind == 2)) {
          table.put(key, "changed" + random.nextInt(1000));
        } else if (dice == 2 && (kind == 0 || kind == 2)) {
          table.put(key, table.get(key)); // rewritten with the same value: no difference
        }
      }
      if (kind == 0 || kind == 3) {
        for (int i = random.nextInt(50); i > 0; i--) {
          table.put("new" + random.nextInt(100_000), "n" + i);
        }
      }
      Map<String, String> expected = new HashMap<>();
      table.forEach(
          (k, v) -> {
            if (!v.equals(cached.get(k))) {
              expected.put(k, v);
            }
          });
      Set<String> gone = new HashSet<>(cached.keySet());
      gone.removeAll(table.keySet());
      gone.forEach(k -> expected.put(k, null));

      WarmCache cache = WarmCache.of(cached);
      if (round % 3 == 1) {
        cache.table().switchToSeeded(); // slots numbered by SipHash too
      }
      try (Connection c = tableHolding(round, table)) {
        Map<String, String> diff = cache.differencesFrom(c, false, () -> {});
        assertThat(diff).as("round %d", round).isEqualTo(expected);
        cache.publish(diff);
        Map<String, String> after = new HashMap<>();
        cache.table().forEach(after::put);
        assertThat(after).as("round %d: the cache once published", round).isEqualTo(table);
        assertThat(cache.differencesFrom(c, false, () -> {})).isEmpty();
      }
    }
  }

  @Test
  void differencesFrom_sameSizeButOneKeyReplaced_findsTheDeletedKey() throws Exception {
    Map<String, String> cached = Map.of("a", "1", "b", "2", "c", "3");
    WarmCache cache = WarmCache.of(cached);
    try (Connection c = tableHolding(0, Map.of("a", "1", "b", "2", "d", "3"))) {
      assertThat(cache.differencesFrom(c, false, () -> {}))
          .containsExactlyInAnyOrderEntriesOf(
              new HashMap<>() {
                {
                  put("c", null);
                  put("d", "3");
                }
              });
    }
  }

  @Test
  void differencesFrom_invalidUtf8Row_throwsCorruptValue() throws Exception {
    WarmCache cache = WarmCache.of(Map.of("a", "1"));
    try (Connection c = tableHolding(0, Map.of("a", "1"));
        Statement s = c.createStatement()) {
      s.executeUpdate("INSERT INTO kv VALUES ('bad', CAST(X'C328' AS TEXT))");
      assertThatThrownBy(() -> cache.differencesFrom(c, false, () -> {}))
          .isInstanceOf(CorruptValueException.class);
    }
  }

  private Connection tableHolding(int round, Map<String, String> rows) throws Exception {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("kv" + round + ".db"));
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode = WAL");
      s.execute(
          "CREATE TABLE kv(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT"
              + " ROWID");
      c.setAutoCommit(false);
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO kv VALUES (?, ?)")) {
        for (Map.Entry<String, String> e : rows.entrySet()) {
          insert.setString(1, e.getKey());
          insert.setString(2, e.getValue());
          insert.executeUpdate();
        }
      }
      c.commit();
      c.setAutoCommit(true);
    }
    return c;
  }
}
