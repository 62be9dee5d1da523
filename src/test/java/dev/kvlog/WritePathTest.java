package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Group commit, batches and conditional writes: the write path beyond one set at a time. */
class WritePathTest {
  @TempDir Path dir;

  /** 64 KiB: more than the capped database below has room for, so its write fails with FULL. */
  static final String HUGE = "h".repeat(64 * 1024);

  /**
   * Writers that queue behind a busy leader join its group before its COMMIT; the one whose change
   * does not fit fails alone and its neighbours still commit.
   */
  @Test
  void groupCommit_badWriteFailsAlone_neighboursCommitTogether() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store =
            KVLog.builder(db)
                .busyTimeout(Duration.ofSeconds(30))
                .pragma("max_page_count", "12")
                .open();
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = other.createStatement()) {
      s.execute("BEGIN IMMEDIATE"); // the first writer leads and waits for SQLite's write lock
      List<Thread> writers = new ArrayList<>();
      Map<String, Object> outcomes = new ConcurrentHashMap<>();
      for (String key : List.of("leader", "a", "huge", "b", "c")) {
        Thread t =
            new Thread(
                () -> {
                  try {
                    outcomes.put(key, store.set(key, key.equals("huge") ? HUGE : key));
                  } catch (RuntimeException e) {
                    outcomes.put(key, e);
                  }
                });
        t.start();
        writers.add(t);
        awaitParkedOrBlocked(t);
      }
      s.execute("ROLLBACK");
      for (Thread t : writers) {
        t.join(30_000);
      }
      assertThat(outcomes).hasSize(5);
      assertThat(outcomes.get("huge"))
          .isInstanceOfSatisfying(
              WriteFailedException.class,
              e -> {
                assertThat(e.storeFailed()).isFalse();
                assertThat(e.getMessage()).contains("set of key \"huge\"", "full");
              });
      for (String key : List.of("leader", "a", "b", "c")) {
        assertThat(outcomes.get(key)).as(key).isEqualTo(java.util.Optional.empty());
        assertThat(store.get(key)).contains(key);
      }
      assertThat(store.get("huge")).isEmpty();
      KVLogStats stats = store.stats();
      assertThat(stats.largestGroup())
          .as(
              "the writers that queued while the leader waited joined its commit (GroupCommitter"
                  + " joinLate); all but the bad one committed")
          .isEqualTo(4);
      assertThat(stats.writes()).isEqualTo(4);
    }
    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(contents(reopened))
          .isEqualTo(Map.of("leader", "leader", "a", "a", "b", "b", "c", "c"));
    }
  }

  static void awaitParkedOrBlocked(Thread t) throws InterruptedException {
    for (int i = 0; i < 3000; i++) {
      Thread.State state = t.getState();
      if (state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING) {
        return;
      }
      if (state == Thread.State.RUNNABLE && i > 100) {
        return; // the leader spins in SQLite's busy handler (native sleep shows as RUNNABLE)
      }
      Thread.sleep(1);
    }
    throw new AssertionError(t + " never waited");
  }

  @Test
  void batch_isAllOrNothing() {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.builder(db).pragma("max_page_count", "12").open()) {
      store.set("keep", "1");
      store.set("gone", "2");
      store.write(new WriteBatch<String, String>().set("a", "1").delete("gone").set("a", "2"));
      assertThat(contents(store)).isEqualTo(Map.of("keep", "1", "a", "2"));

      WriteBatch<String, String> tooBig =
          new WriteBatch<String, String>().set("x", "1").delete("keep").set("huge", HUGE);
      assertThatThrownBy(() -> store.write(tooBig))
          .isInstanceOf(WriteFailedException.class)
          .hasMessageContaining("batch of 3 changes")
          .hasMessageContaining("full");
      assertThat(contents(store))
          .as("none of the batch applied")
          .isEqualTo(Map.of("keep", "1", "a", "2"));

      assertThatThrownBy(
              () ->
                  store.write(new WriteBatch<String, String>().set("y", "1").set("bad", "\uD800")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("value");
      assertThat(store.get("y")).as("bad input in a batch writes nothing").isEmpty();
      store.write(new WriteBatch<>()); // empty: nothing to do
    }
    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(contents(reopened)).isEqualTo(Map.of("keep", "1", "a", "2"));
    }
  }

  @Test
  void conditionalWrites() {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      assertThat(store.setIfAbsent("k", "1")).isEmpty();
      assertThat(store.setIfAbsent("k", "2")).contains("1");
      assertThat(store.compareAndSet("k", "2", "3")).isFalse();
      assertThat(store.compareAndSet("k", "1", "3")).isTrue();
      assertThat(store.compareAndSet("k", null, "4")).as("expected absent").isFalse();
      assertThat(store.compareAndSet("n", null, "new")).as("insert if absent").isTrue();
      assertThat(store.compareAndSet("k", "3", null)).as("delete if unchanged").isTrue();
      assertThat(store.compareAndSet("k", null, null)).as("absent stays absent").isTrue();
      assertThat(contents(store)).isEqualTo(Map.of("n", "new"));
      assertThatThrownBy(() -> store.setIfAbsent("k", null))
          .isInstanceOf(NullPointerException.class);
    }
  }

  /**
   * Concurrent compare-and-set increments of one counter end exact, in both commit modes. A lost
   * update (two CAS calls deciding against the same value) leaves the counter short.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void casCounter_isExact(boolean groupCommit) throws Exception {
    Path db = dir.resolve("kv.db");
    int threads = 8;
    int increments = 60;
    AtomicInteger retries = new AtomicInteger();
    try (KVLog<String, String> store = KVLog.builder(db).groupCommit(groupCommit).open()) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      CountDownLatch start = new CountDownLatch(1);
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        tasks.add(
            pool.submit(
                () -> {
                  start.await();
                  for (int i = 0; i < increments; i++) {
                    for (; ; ) {
                      String seen = store.get("counter").orElse(null);
                      String next = Integer.toString(seen == null ? 1 : Integer.parseInt(seen) + 1);
                      if (store.compareAndSet("counter", seen, next)) {
                        break;
                      }
                      retries.incrementAndGet();
                    }
                  }
                  return null;
                }));
      }
      start.countDown();
      for (Future<?> f : tasks) {
        f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      assertThat(store.get("counter")).contains(Integer.toString(threads * increments));
    }
    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(reopened.get("counter")).contains(Integer.toString(threads * increments));
    }
  }

  @Test
  void setIfAbsent_race_hasOneWinner() throws Exception {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      for (int round = 0; round < 20; round++) {
        String key = "k" + round;
        List<CompletableFuture<java.util.Optional<String>>> calls = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
          String mine = "t" + t;
          calls.add(CompletableFuture.supplyAsync(() -> store.setIfAbsent(key, mine)));
        }
        List<String> winners = new ArrayList<>();
        for (CompletableFuture<java.util.Optional<String>> c : calls) {
          java.util.Optional<String> present = c.get(30, TimeUnit.SECONDS);
          if (present.isEmpty()) {
            winners.add(key);
          } else {
            assertThat(present).isEqualTo(store.get(key));
          }
        }
        assertThat(winners).as("exactly one caller stored its value").hasSize(1);
      }
    }
  }

  /** Under steady concurrent load the WAL stays near the checkpoint threshold (4 MiB). */
  @Test
  void walStaysBounded_underConcurrentLoad() throws Exception {
    Path db = dir.resolve("kv.db");
    String value = "v".repeat(1000);
    int writers = 8;
    AtomicInteger seq = new AtomicInteger();
    long maxWal = 0;
    try (KVLog<String, String> store = KVLog.load(db)) {
      ExecutorService pool = Executors.newFixedThreadPool(writers);
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < writers; t++) {
        tasks.add(
            pool.submit(
                () -> {
                  // ~40 MB of values in all: ten times the threshold. Distinct values: SQLite
                  // writes nothing for an update that changes nothing.
                  for (int n; (n = seq.incrementAndGet()) <= 40_000; ) {
                    store.set("k" + (n % 5000), n + value);
                  }
                  return null;
                }));
      }
      while (!tasks.stream().allMatch(Future::isDone)) {
        maxWal = Math.max(maxWal, store.stats().walBytes());
        Thread.sleep(5);
      }
      for (Future<?> f : tasks) {
        f.get();
      }
      pool.shutdown();
      KVLogStats stats = store.stats();
      assertThat(stats.checkpoints()).isPositive();
      assertThat(maxWal).as("largest WAL seen, bytes").isLessThan(16L << 20);
    }
    Path wal = db.resolveSibling("kv.db-wal");
    assertThat(!Files.exists(wal) || Files.size(wal) == 0).as("no WAL left after close").isTrue();
  }

  /**
   * Large commits (batches of 1 MB) must not carry the WAL far past its threshold between two looks
   * at its size: the writer looks every 32nd commit, or sooner by the bytes committed.
   */
  @Test
  void walStaysBounded_underLargeBatches() throws Exception {
    Path db = dir.resolve("kv.db");
    String value = "b".repeat(10_000);
    long maxWal = 0;
    try (KVLog<String, String> store = KVLog.load(db)) {
      java.util.Random random = new java.util.Random(42);
      for (int commit = 0; commit < 80; commit++) { // ~80 MB: twenty times the threshold
        WriteBatch<String, String> batch = new WriteBatch<>();
        for (int i = 0; i < 100; i++) { // random keys, as an application's batches touch them
          batch.set("k" + random.nextInt(100_000), commit + value); // new values: each writes
        }
        store.write(batch);
        Path wal = db.resolveSibling("kv.db-wal"); // stats() is not used: it may checkpoint
        maxWal = Math.max(maxWal, Files.exists(wal) ? Files.size(wal) : 0);
      }
      assertThat(store.stats().checkpoints()).isPositive();
    }
    assertThat(maxWal).as("largest WAL seen, bytes").isLessThan(16L << 20);
  }

  /**
   * Concurrent large batches: group commit used to merge them into one transaction as large as all
   * of them, so the WAL grew with the number of writers (16 writers of 1 MB batches: 147 MiB).
   * Groups are now capped at 1M chars beyond their first request. The break this catches: no cap (8
   * writers here reached 60-80 MiB).
   */
  @Test
  void walStaysBounded_underConcurrentLargeBatches() throws Exception {
    Path db = dir.resolve("kv.db");
    Path wal = db.resolveSibling("kv.db-wal");
    String value = "c".repeat(10_000);
    java.util.concurrent.atomic.AtomicLong maxWal = new java.util.concurrent.atomic.AtomicLong();
    try (KVLog<String, String> store = KVLog.load(db)) {
      java.util.concurrent.ExecutorService pool =
          java.util.concurrent.Executors.newFixedThreadPool(16);
      java.util.List<java.util.concurrent.Future<?>> writers = new java.util.ArrayList<>();
      for (int w = 0; w < 16; w++) {
        int writer = w;
        writers.add(
            pool.submit(
                () -> {
                  java.util.Random random = new java.util.Random(writer);
                  for (int commit = 0; commit < 6; commit++) { // 16 x 6 x 1 MB: 96 MB
                    WriteBatch<String, String> batch = new WriteBatch<>();
                    for (int i = 0; i < 100; i++) {
                      batch.set("k" + random.nextInt(100_000), writer + "-" + commit + value);
                    }
                    store.write(batch);
                    try {
                      maxWal.accumulateAndGet(Files.exists(wal) ? Files.size(wal) : 0, Math::max);
                    } catch (java.io.IOException gone) {
                      // reset between the check and the size: 0 bytes
                    }
                  }
                  return null;
                }));
      }
      for (java.util.concurrent.Future<?> f : writers) {
        f.get(5, java.util.concurrent.TimeUnit.MINUTES);
      }
      pool.shutdown();
    }
    assertThat(maxWal.get()).as("largest WAL seen, bytes").isLessThan(24L << 20);
  }
}
