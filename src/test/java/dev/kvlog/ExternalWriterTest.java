package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Defect 1 as a whole class of bug: KVLog and another connection increment one counter at the same
 * time, KVLog with compare-and-set, the other with SQL transactions. No increment may be lost,
 * which holds only if every compare-and-set is decided against the table inside SQLite's write
 * lock.
 */
class ExternalWriterTest {
  @TempDir Path dir;

  /**
   * In bounded mode most of KVLog's gets miss (the cache is dropped after every outside commit the
   * writer notices) and may read an outside commit before the writer has looked; the CAS is still
   * decided inside the lock, so no increment may be lost either way.
   */
  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void compareAndSetCounter_racingSqlIncrements_losesNoIncrement(CacheMode mode) throws Exception {
    Path db = dir.resolve("kv.db");
    int mine = mode.scaled(300);
    int theirs = mode.scaled(1000);
    java.util.concurrent.atomic.AtomicInteger externalCommits =
        new java.util.concurrent.atomic.AtomicInteger();
    try (KVLog<String, String> store =
        mode.builder(db)
            .busyTimeout(Duration.ofSeconds(30))
            .externalChangeCheck(Duration.ZERO)
            .open()) {
      store.set("c", "0");
      CompletableFuture<Void> external =
          CompletableFuture.runAsync(
              () -> {
                try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
                    Statement s = c.createStatement()) {
                  s.execute("PRAGMA busy_timeout = 30000");
                  for (int i = 0; i < theirs; i++) {
                    s.execute("BEGIN IMMEDIATE");
                    s.execute(
                        "UPDATE kv SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                            + " WHERE key = 'c'");
                    Thread.sleep(1); // hold the lock a moment, as a shell would
                    s.execute("COMMIT");
                    externalCommits.incrementAndGet();
                  }
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
              });
      while (externalCommits.get() == 0 && !external.isDone()) {
        Thread.onSpinWait();
      }
      // Runs until the other writer is done too, so every one of its later commits lands while
      // this loop runs.
      int retries = 0;
      int done = 0;
      for (; done < mine || !external.isDone(); done++) {
        for (; ; ) {
          String seen = store.get("c").orElseThrow();
          if (store.compareAndSet("c", seen, Integer.toString(Integer.parseInt(seen) + 1))) {
            break;
          }
          retries++;
        }
      }
      external.get(60, TimeUnit.SECONDS);
      // An SQL commit during the loop leaves the cache stale until the next compare-and-set,
      // which therefore fails and retries: proof that the writers interleaved (the old code,
      // deciding on the stale cache, never retried and lost the SQL increments).
      assertThat(externalCommits.get()).isEqualTo(theirs);
      assertThat(retries).as("compare-and-set retries").isPositive();
      try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
          Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT value FROM kv WHERE key = 'c'")) {
        rs.next();
        assertThat(rs.getString(1))
            .as("increments in the table (%d compare-and-set retries)", retries)
            .isEqualTo(Integer.toString(done + theirs));
      }
      store.refresh();
      assertThat(store.get("c")).contains(Integer.toString(done + theirs));
    }
  }
}
