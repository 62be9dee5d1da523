package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KVLogTest {
  @TempDir Path dir;

  static Map<String, String> contents(KVLog<String, String> store) {
    Map<String, String> all = new HashMap<>();
    store.forEach(all::put);
    return all;
  }

  /** What a plain JDBC connection (no KVLog, no cache) reads from the file. */
  static Map<String, String> readWithJdbc(Path db) throws Exception {
    Map<String, String> all = new HashMap<>();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db + "?open_mode=1");
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT key, value FROM kv")) {
      while (rs.next()) {
        all.put(rs.getString(1), rs.getString(2));
      }
    }
    return all;
  }

  @Test
  void set_get_delete_returnPriorValues() {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      assertThat(store.get("a")).isEmpty();
      assertThat(store.set("a", "1")).isEmpty();
      assertThat(store.set("a", "2")).contains("1");
      assertThat(store.get("a")).contains("2");
      assertThat(store.delete("a")).contains("2");
      assertThat(store.delete("a")).isEmpty();
      assertThat(store.get("a")).isEmpty();
      assertThat(store.size()).isZero();
    }
  }

  @Test
  void reopen_reloadsExactlyTheStateWritten() throws Exception {
    Path db = dir.resolve("kv.db");
    Map<String, String> model = new HashMap<>();
    Random random = new Random(42);
    try (KVLog<String, String> store = KVLog.load(db)) {
      for (int i = 0; i < 500; i++) {
        String key = "key" + random.nextInt(60);
        if (random.nextInt(4) == 0) {
          assertThat(store.delete(key)).isEqualTo(Optional.ofNullable(model.remove(key)));
        } else {
          String value = "value" + i;
          assertThat(store.set(key, value)).isEqualTo(Optional.ofNullable(model.put(key, value)));
        }
      }
      assertThat(contents(store)).isEqualTo(model);
    }
    assertThat(readWithJdbc(db)).isEqualTo(model);
    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(contents(reopened)).isEqualTo(model);
      model.forEach((k, v) -> assertThat(reopened.get(k)).contains(v));
    }
  }

  @Test
  void awkwardStrings_roundTripExactly() throws Exception {
    Path db = dir.resolve("kv.db");
    char[] big = new char[6 * 1024 * 1024];
    Random random = new Random(7);
    for (int i = 0; i < big.length; i++) {
      big[i] = (char) ('a' + random.nextInt(26));
    }
    Map<String, String> cases = new HashMap<>();
    cases.put("", "empty key");
    cases.put("empty value", "");
    cases.put("nul\0inside", "value\0with\0nuls\0");
    cases.put("emoji \uD83D\uDE00 pair", "\uD83C\uDF89 party \u00e9\u4e2d");
    cases.put("large", new String(big));
    cases.put("'); DROP TABLE kv; --", "\"; DELETE FROM kv; --");
    cases.put("newline\nkey", "tab\tvalue\r\n");
    try (KVLog<String, String> store = KVLog.load(db)) {
      cases.forEach(store::set);
      cases.forEach((k, v) -> assertThat(store.get(k)).contains(v));
    }
    assertThat(readWithJdbc(db)).isEqualTo(cases);
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(contents(store)).isEqualTo(cases);
    }
  }

  @Test
  void close_isIdempotent_andLaterCallsFail() {
    KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"));
    store.set("k", "v");
    store.close();
    store.close();
    assertThatThrownBy(() -> store.get("k"))
        .isInstanceOf(StoreClosedException.class)
        .hasMessageContaining("kv.db is closed");
    assertThatThrownBy(() -> store.set("k", "w")).isInstanceOf(StoreClosedException.class);
    assertThatThrownBy(() -> store.delete("k")).isInstanceOf(StoreClosedException.class);
    assertThatThrownBy(store::size).isInstanceOf(StoreClosedException.class);
    assertThatThrownBy(store::async).isInstanceOf(StoreClosedException.class);
    try (KVLog<String, String> reopened = KVLog.load(dir.resolve("kv.db"))) {
      assertThat(reopened.get("k")).contains("v");
    }
  }

  @Test
  void close_checkpointsTheWalIntoTheDatabase() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      for (int i = 0; i < 50; i++) {
        store.set("k" + i, "v" + i);
      }
      assertThat(store.stats().walBytes()).isPositive();
    }
    Path wal = dir.resolve("kv.db-wal");
    assertThat(!Files.exists(wal) || Files.size(wal) == 0).as("WAL empty after close").isTrue();
  }

  @Test
  void stats_reportEntriesFilesAndSchema() {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      store.set("a", "1");
      store.set("b", "2");
      KVLogStats stats = store.stats();
      assertThat(stats.entries()).isEqualTo(2);
      assertThat(stats.schemaVersion()).isEqualTo(1);
      assertThat(stats.databaseBytes()).isPositive();
      assertThat(stats.path()).isEqualTo(dir.resolve("kv.db").toAbsolutePath());
    }
  }

  @Test
  void stats_countOnlyCommitsThatChangedTheStore() {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      store.set("a", "1");
      KVLogStats before = store.stats();
      assertThat(before.commits()).isEqualTo(1);
      // Decided in a transaction that writes nothing: no frame, no fsync, no commit to count.
      assertThat(store.compareAndSet("a", "other", "2")).isFalse();
      assertThat(store.setIfAbsent("a", "3")).contains("1");
      assertThat(store.delete("absent")).isEmpty();
      KVLogStats after = store.stats();
      assertThat(after.commits()).isEqualTo(before.commits());
      assertThat(after.writes()).isEqualTo(before.writes());
      store.set("a", "4");
      assertThat(store.stats().commits()).isEqualTo(2);
    }
  }

  @Test
  void async_completesWithTheSameResults() throws Exception {
    KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"));
    AsyncKVStore<String, String> async = store.async();
    try {
      assertThat(async.set("a", "1").get()).isEmpty();
      assertThat(async.set("a", "2").get()).contains("1");
      assertThat(async.get("a").get()).contains("2");
      assertThat(async.delete("a").get()).contains("2");
      assertThat(async.set(null, "x"))
          .failsWithin(Duration.ofSeconds(10))
          .withThrowableOfType(ExecutionException.class)
          .withCauseInstanceOf(NullPointerException.class);
      assertThat(store.get("a")).isEmpty();
    } finally {
      store.close();
    }
    assertThat(async.set("a", "late"))
        .failsWithin(Duration.ofSeconds(10))
        .withThrowableOfType(ExecutionException.class)
        .withCauseInstanceOf(StoreClosedException.class);
    assertThatThrownBy(store::async).isInstanceOf(StoreClosedException.class);
  }

  /** A record as Jackson sees it: a mutable bean. */
  public static final class Person {
    public String name;
    public List<String> tags = new ArrayList<>();
  }

  @Test
  void jsonCodec_storesQueryableJson_andNeverSharesMutableObjects() throws Exception {
    Path db = dir.resolve("people.db");
    try (KVLog<String, Person> store =
        KVLog.builder(db, Codecs.string(), Codecs.json(Person.class)).open()) {
      Person ada = new Person();
      ada.name = "Ada";
      ada.tags.add("math");
      store.set("p1", ada);
      ada.tags.add("changed after set");
      Person read = store.get("p1").orElseThrow();
      assertThat(read.tags).containsExactly("math");
      read.tags.add("changed after get");
      assertThat(store.get("p1").orElseThrow().tags).containsExactly("math");
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery("SELECT json_extract(value, '$.name') FROM kv WHERE key = 'p1'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("Ada");
    }
  }

  @Test
  void codecFailure_reachesTheCaller_andChangesNothing() {
    Codec<Integer> failing =
        new Codec<>() {
          @Override
          public String encode(Integer value) {
            if (value < 0) {
              throw new IllegalArgumentException("negative values are not allowed: " + value);
            }
            return value.toString();
          }

          @Override
          public Integer decode(String text) {
            return Integer.valueOf(text);
          }
        };
    try (KVLog<String, Integer> store =
        KVLog.builder(dir.resolve("kv.db"), Codecs.string(), failing).open()) {
      store.set("n", 1);
      assertThatThrownBy(() -> store.set("n", -1))
          .hasMessage("negative values are not allowed: -1");
      assertThat(store.get("n")).contains(1);
    }
  }
}
