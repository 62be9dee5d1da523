package dev.kvlog;

import static dev.kvlog.ExternalSqlite.open;
import static dev.kvlog.ExternalSqlite.sqlite;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.DoorsSqliteTest.User;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The outside review of issue 10's engine work (reproductions in review-core): one test per
 * finding, each named after the reviewer's scenario.
 */
class OutsideReviewTest {
  @TempDir Path dir;

  private static void exec(Path db, String sql) throws Exception {
    try (Connection c = sqlite(db);
        Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  private static String stored(Path db, String key) throws Exception {
    try (Connection c = sqlite(db);
        PreparedStatement s = c.prepareStatement("SELECT quote(value) FROM kv WHERE key = ?")) {
      s.setString(1, key);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  private static void assertUnchangedFailure(Throwable e) {
    assertThat(e).isInstanceOf(WriteFailedException.class);
    WriteFailedException w = (WriteFailedException) e;
    assertThat(w.outcomeUnknown()).as("outcomeUnknown of: " + e.getMessage()).isFalse();
    assertThat(w.storeFailed()).as("storeFailed of: " + e.getMessage()).isFalse();
    assertThat(e.getMessage()).doesNotContain("outcome is unknown");
  }

  /** closeforeach: forEach racing close() gives every entry or StoreClosedException. */
  @Test
  void closeforeach_forEachRacingClose_givesAllEntriesOrStoreClosed() throws Exception {
    int entries = 20_000;
    Map<String, AtomicLong> outcomes = new ConcurrentHashMap<>();
    for (int round = 0; round < 60; round++) {
      Path db = dir.resolve("kv" + round + ".db");
      KVLog<String, String> store =
          KVLog.builder(db).verifyOnOpen(false).externalChangeCheck(Duration.ZERO).open();
      WriteBatch<String, String> batch = new WriteBatch<>();
      for (int i = 0; i < entries; i++) {
        batch.set("k" + i, "v");
      }
      store.write(batch);
      AtomicBoolean go = new AtomicBoolean();
      List<Thread> readers = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        readers.add(
            new Thread(
                () -> {
                  while (!go.get()) {
                    Thread.onSpinWait();
                  }
                  try {
                    for (; ; ) {
                      AtomicLong n = new AtomicLong();
                      store.forEach((k, v) -> n.incrementAndGet());
                      String outcome = n.get() == entries ? "all" : "PARTIAL";
                      outcomes.computeIfAbsent(outcome, x -> new AtomicLong()).incrementAndGet();
                    }
                  } catch (StoreClosedException expected) {
                    outcomes.computeIfAbsent("closed", x -> new AtomicLong()).incrementAndGet();
                  }
                }));
      }
      readers.forEach(Thread::start);
      go.set(true);
      Thread.sleep(1 + round % 5);
      store.close();
      for (Thread t : readers) {
        t.join();
      }
    }
    assertThat(new TreeMap<>(outcomes)).doesNotContainKey("PARTIAL").containsKey("closed");
  }

  /** jsonnull: a codec that decodes stored text to null cannot decode it. */
  @Test
  void jsonnull_aValueDecodingToNull_isCorrupt_andWritesAreRefusedWithTheTableUnchanged()
      throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, User> store =
        KVLog.builder(db, Codecs.string(), Codecs.json(User.class))
            .externalChangeCheck(Duration.ZERO)
            .open()) {
      store.set("u", new User("ann", 30));
      exec(db, "UPDATE kv SET value = 'null' WHERE key = 'u'");
      store.refresh();
      assertThatThrownBy(() -> store.get("u"))
          .isInstanceOf(CorruptValueException.class)
          .hasMessageContaining("key \"u\"");
      assertThatThrownBy(() -> store.forEach((k, v) -> {}))
          .isInstanceOf(CorruptValueException.class);
      assertThatThrownBy(() -> store.range(null, null).toList())
          .isInstanceOf(CorruptValueException.class);
      assertThatThrownBy(() -> store.setIfAbsent("u", new User("bob", 1)))
          .satisfies(OutsideReviewTest::assertUnchangedFailure)
          .hasCauseInstanceOf(CorruptValueException.class);
      assertThatThrownBy(() -> store.set("u", new User("bob", 1)))
          .satisfies(OutsideReviewTest::assertUnchangedFailure);
      assertThatThrownBy(() -> store.delete("u"))
          .satisfies(OutsideReviewTest::assertUnchangedFailure);
      assertThat(stored(db, "u")).as("the table is unchanged").isEqualTo("'null'");
    }
  }

  /** busygroup: each member of a failed group is told about its own request. */
  @Test
  void busygroup_eachFailedRequestDescribesItself() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store =
            KVLog.builder(db)
                .busyTimeout(Duration.ofMillis(800))
                .externalChangeCheck(Duration.ZERO)
                .open();
        Connection other = sqlite(db);
        Statement s = other.createStatement()) {
      s.execute("BEGIN IMMEDIATE");
      s.execute("INSERT INTO kv VALUES ('ext', '1')");
      Map<String, Throwable> failures = new ConcurrentHashMap<>();
      List<Thread> writers = new ArrayList<>();
      for (String k : List.of("lead", "m1", "m2", "m3")) {
        Thread t =
            new Thread(
                () -> {
                  try {
                    store.set(k, "v");
                  } catch (RuntimeException e) {
                    failures.put(k, e);
                  }
                });
        writers.add(t);
        t.start();
        Thread.sleep(100);
      }
      for (Thread t : writers) {
        t.join();
      }
      s.execute("ROLLBACK");
      assertThat(failures).hasSize(4);
      failures.forEach(
          (k, e) -> {
            assertThat(e.getMessage()).as(k).contains("key \"" + k + "\"");
            assertUnchangedFailure(e);
          });
    }
  }

  /** readwait: a scan interrupted while it waits for the writer lock says it was a read. */
  @Test
  void readwait_aScanInterruptedWhileWaiting_saysItWasARead() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store =
            KVLog.builder(db)
                .busyTimeout(Duration.ofSeconds(20))
                .externalChangeCheck(Duration.ZERO)
                .open();
        Connection other = sqlite(db);
        Statement s = other.createStatement()) {
      store.set("a", "1");
      s.execute("BEGIN IMMEDIATE");
      s.execute("UPDATE kv SET value = 'ext' WHERE key = 'a'");
      Thread writer = new Thread(() -> store.set("b", "1"));
      writer.start();
      Thread.sleep(300); // the writer now holds KVLog's lock, waiting for SQLite's
      AtomicReference<Throwable> scanFailure = new AtomicReference<>();
      AtomicBoolean flagKept = new AtomicBoolean();
      Thread scan =
          new Thread(
              () -> {
                try {
                  store.range(null, null).toList();
                } catch (RuntimeException e) {
                  scanFailure.set(e);
                  flagKept.set(Thread.currentThread().isInterrupted());
                }
              });
      scan.start();
      Thread.sleep(300);
      scan.interrupt();
      scan.join(10_000);
      s.execute("COMMIT");
      writer.join();
      assertThat(scanFailure.get())
          .isInstanceOf(KVLogException.class)
          .hasMessageContaining("interrupted while waiting to read")
          .hasMessageNotContaining("write");
      assertThat(flagKept).isTrue();
    }
  }

  /**
   * A failed reload (kv dropped while open) leaves no transaction open: the next write is refused
   * with the table unchanged, and works once the table is back.
   */
  @Test
  void droppedTableWhileOpen_writesAreRefusedCleanly_untilTheTableIsBack() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.set("a", "1");
      exec(db, "DROP TABLE kv");
      for (int i = 0; i < 2; i++) { // the second reload found the first one's transaction open
        assertThatThrownBy(store::refresh)
            .isInstanceOf(KVLogException.class)
            .hasMessageNotContaining("within a transaction");
      }
      assertThatThrownBy(() -> store.set("b", "1"))
          .satisfies(OutsideReviewTest::assertUnchangedFailure)
          .hasMessageContaining("kv");
      exec(
          db,
          "CREATE TABLE kv(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT"
              + " ROWID");
      store.set("b", "2");
      assertThat(store.get("b")).contains("2");
      assertThat(store.get("a")).isEmpty();
      assertThat(stored(db, "b")).isEqualTo("'2'");
    }
  }

  /** rewrite: a trigger created while the store was closed makes open refuse, naming the fix. */
  @Test
  void rewrite_aTriggerOnKv_refusesOpen_namingTheTrigger_fileUnchanged() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.set("a", "1");
    }
    exec(
        db,
        "CREATE TRIGGER up_i AFTER INSERT ON kv BEGIN UPDATE kv SET value = upper(new.value)"
            + " WHERE key = new.key AND value <> upper(new.value); END");
    // Out of WAL mode, so that the pool's switch to WAL (header bytes 18/19) would show: the
    // refusal must come from the read-only check, before anything writes.
    exec(db, "PRAGMA journal_mode = DELETE");
    byte[] before = Files.readAllBytes(db);
    assertThatThrownBy(() -> open(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("up_i")
        .hasMessageContaining("DROP TRIGGER");
    assertThat(Files.readAllBytes(db)).isEqualTo(before);
    assertThat(Files.exists(dir.resolve("kv.db-wal"))).isFalse();
    exec(db, "DROP TRIGGER up_i");
    try (KVLog<String, String> store = open(db)) {
      assertThat(store.get("a")).contains("1");
    }
  }

  /**
   * trigger IGNORE: a trigger created while open makes writes refused, table unchanged, until it is
   * dropped.
   */
  @Test
  void triggerIgnore_createdWhileOpen_refusesWritesUntilDropped() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.set("g0", "0");
      exec(
          db,
          "CREATE TRIGGER nobad BEFORE INSERT ON kv WHEN new.key LIKE 'bad%'"
              + " BEGIN SELECT RAISE(IGNORE); END");
      assertThatThrownBy(() -> store.set("bad0", "x"))
          .satisfies(OutsideReviewTest::assertUnchangedFailure)
          .hasMessageContaining("nobad")
          .hasMessageContaining("DROP TRIGGER");
      assertThatThrownBy(() -> store.set("g1", "1"))
          .satisfies(OutsideReviewTest::assertUnchangedFailure);
      assertThat(stored(db, "bad0")).isNull();
      assertThat(stored(db, "g1")).isNull();
      exec(db, "DROP TRIGGER nobad");
      store.set("bad0", "x");
      assertThat(stored(db, "bad0")).isEqualTo("'x'");
      assertThat(store.get("bad0")).contains("x");
    }
  }

  /** nullrow: a kv table whose value column allows NULL is refused at open. */
  @Test
  void nullrow_aNullableValueColumn_refusesOpen_namingTheColumn() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.set("a", "1");
    }
    try (Connection c = sqlite(db);
        Statement s = c.createStatement()) {
      s.executeUpdate("CREATE TABLE kvn(key TEXT PRIMARY KEY, value TEXT) STRICT, WITHOUT ROWID");
      s.executeUpdate("INSERT INTO kvn SELECT * FROM kv");
      s.executeUpdate("DROP TABLE kv");
      s.executeUpdate("ALTER TABLE kvn RENAME TO kv");
      s.executeUpdate("INSERT INTO kv VALUES ('n', NULL)");
    }
    byte[] before = Files.readAllBytes(db);
    assertThatThrownBy(() -> open(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("value")
        .hasMessageContaining("NOT NULL");
    assertThat(Files.readAllBytes(db)).isEqualTo(before);
  }

  /** A kv table that is not STRICT, or has a rowid, is refused too. */
  @Test
  void aTableWithoutStrictOrWithRowid_refusesOpen() throws Exception {
    for (String options : List.of("WITHOUT ROWID", "STRICT")) {
      Path db = dir.resolve("kv-" + options.replace(' ', '_') + ".db");
      try (KVLog<String, String> store = open(db)) {
        store.set("a", "1");
      }
      exec(db, "DROP TABLE kv");
      exec(db, "CREATE TABLE kv(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) " + options);
      assertThatThrownBy(() -> open(db).close())
          .as(options)
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining(options.equals("STRICT") ? "WITHOUT ROWID" : "STRICT");
    }
  }

  /**
   * misc: compareAndSet compares encoded text, as documented on KVStore.compareAndSet: a value
   * another tool reformatted does not match what get returned for it, until set rewrites it.
   */
  @Test
  void misc_compareAndSetOnReformattedJson_neverMatches_untilSetRewritesIt() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, User> store =
        KVLog.builder(db, Codecs.string(), Codecs.json(User.class))
            .externalChangeCheck(Duration.ZERO)
            .open()) {
      store.set("u", new User("ann", 30));
      exec(db, "UPDATE kv SET value = '{\"age\":30,\"name\":\"ann\"}' WHERE key = 'u'");
      store.refresh();
      User read = store.get("u").orElseThrow();
      assertThat(read).isEqualTo(new User("ann", 30));
      assertThat(store.compareAndSet("u", read, new User("ann", 31))).isFalse();
      store.set("u", read); // back in the codec's form
      assertThat(store.compareAndSet("u", read, new User("ann", 31))).isTrue();
      assertThat(store.get("u")).contains(new User("ann", 31));
    }
  }
}
