package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A write that cannot commit yet (another connection holds SQLite's write lock) is invisible to
 * readers, and readers do not wait for it: {@code get} answers from the cache throughout.
 */
class VisibilityTest {
  @TempDir Path dir;

  /** In bounded mode, gets of k that must have read the table (measured: see the report). */
  static final int MIN_MISSES = 1;

  /**
   * In bounded mode "k" is evicted between gets (a miss reads the table: the write is not
   * committed, so the table still holds v1), and those reads do not wait for SQLite's lock either:
   * WAL readers never do.
   */
  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void pendingWrite_isInvisible_andReadsDoNotWaitForIt(CacheMode mode) throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = mode.builder(db).busyTimeout(Duration.ofSeconds(30)).open();
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      // In bounded mode v1 outweighs the whole cache: Caffeine evicts it at each maintenance.
      String v1 = mode.bounded() ? "v1" + LinearizabilityTest.PAD : "v1";
      store.set("k", v1);
      try (Statement s = other.createStatement()) {
        s.execute("BEGIN IMMEDIATE"); // what an open sqlite3 shell in a transaction does
        CompletableFuture<Optional<String>> pending =
            CompletableFuture.supplyAsync(() -> store.set("k", "v2"));
        Thread.sleep(300);
        assertThat(pending).as("the write waits for SQLite's write lock").isNotDone();
        for (int i = 0; i < 1000; i++) {
          assertThat(store.get("k")).as("not committed, so not visible").contains(v1);
        }
        assertThat(pending).isNotDone();
        s.execute("ROLLBACK");
        assertThat(pending.get(30, TimeUnit.SECONDS)).contains(v1);
      }
      if (mode.bounded()) {
        // Read only now: in bounded mode stats() waits for the writer (see the disabled test).
        assertThat(store.stats().cacheMisses())
            .as("gets of k that read the table while the write waited")
            .isGreaterThanOrEqualTo(MIN_MISSES);
      }
      assertThat(store.get("k")).contains("v2");
    }
  }

  /**
   * size() and stats() answer while a write waits for SQLite's lock. Found in bounded mode, where
   * they read the table: through SqliteWriter.readConsistent, whose sync step takes the writer lock
   * that such a write holds for up to busyTimeout (a metrics scrape hung). Now size() reads without
   * that step and stats() does not count. The break this catches: bounded size() through
   * readConsistent (blocked after 300 ms, until the other connection let go).
   */
  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void sizeAndStats_doNotWaitForAWriteThatWaitsForTheLock(CacheMode mode) throws Exception {
    Path db = dir.resolve("kv.db");
    // A thread per task: the common pool has one thread on 2 cores, and on JDK 25 CompletableFuture
    // queues behind it, so size() would wait for the blocked set's thread, not for its lock.
    java.util.concurrent.ExecutorService threads =
        java.util.concurrent.Executors.newCachedThreadPool();
    try (KVLog<String, String> store = mode.builder(db).busyTimeout(Duration.ofSeconds(30)).open();
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      store.set("k", "v1");
      try (Statement s = other.createStatement()) {
        s.execute("BEGIN IMMEDIATE");
        CompletableFuture<Optional<String>> pending =
            CompletableFuture.supplyAsync(() -> store.set("k", "v2"), threads);
        Thread.sleep(300);
        assertThat(pending).as("the write waits for SQLite's write lock").isNotDone();
        CompletableFuture<Integer> size = CompletableFuture.supplyAsync(store::size, threads);
        CompletableFuture<KVLogStats> stats = CompletableFuture.supplyAsync(store::stats, threads);
        Thread.sleep(300);
        boolean sizeWaited = !size.isDone();
        boolean statsWaited = !stats.isDone();
        s.execute("ROLLBACK");
        pending.get(30, TimeUnit.SECONDS);
        assertThat(size.get(30, TimeUnit.SECONDS)).isEqualTo(1);
        assertThat(sizeWaited).as("size() waited for the pending write").isFalse();
        assertThat(statsWaited).as("stats() waited for the pending write").isFalse();
      }
    } finally {
      threads.shutdownNow();
    }
  }

  @Test
  void writeLockHeldLongerThanBusyTimeout_failsCleanly() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store =
            KVLog.builder(db).busyTimeout(Duration.ofMillis(200)).open();
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      store.set("k", "v1");
      try (Statement s = other.createStatement()) {
        s.execute("BEGIN IMMEDIATE");
        assertThatThrownBy(() -> store.set("k", "v2"))
            .isInstanceOf(WriteFailedException.class)
            .hasMessageContaining("set of key \"k\"")
            .hasMessageContaining("held SQLite's write lock longer than busyTimeout")
            .satisfies(e -> assertThat(((WriteFailedException) e).storeFailed()).isFalse());
        assertThat(store.get("k")).contains("v1");
        s.execute("ROLLBACK");
      }
      assertThat(store.set("k", "v3")).contains("v1");
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("k")).contains("v3");
    }
  }

  @Test
  void writerInterruptedWhileQueued_getsAClearException_andKeepsItsInterruptFlag()
      throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store =
            KVLog.builder(db).busyTimeout(Duration.ofSeconds(30)).open();
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      try (Statement s = other.createStatement()) {
        s.execute("BEGIN IMMEDIATE");
        // The first writer holds KVLog's writer lock while SQLite makes it wait; the second queues.
        CompletableFuture<Optional<String>> first =
            CompletableFuture.supplyAsync(() -> store.set("a", "1"));
        Thread.sleep(200);
        CompletableFuture<String> second = new CompletableFuture<>();
        Thread queued =
            new Thread(
                () -> {
                  try {
                    store.set("b", "2");
                    second.complete("not interrupted");
                  } catch (KVLogException e) {
                    second.complete(
                        e.getMessage()
                            + " | interrupted="
                            + Thread.currentThread().isInterrupted());
                  }
                });
        queued.start();
        Thread.sleep(200);
        queued.interrupt();
        assertThat(second.get(30, TimeUnit.SECONDS))
            .contains("interrupted while waiting to write to " + db.toAbsolutePath())
            .contains("the write was not applied")
            .endsWith("| interrupted=true");
        s.execute("ROLLBACK");
        assertThat(first.get(30, TimeUnit.SECONDS)).isEmpty();
      }
      assertThat(store.get("a")).contains("1");
      assertThat(store.get("b")).isEmpty();
    }
  }
}
