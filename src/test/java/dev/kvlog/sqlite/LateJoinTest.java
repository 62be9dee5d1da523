package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogStats;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writers that queue while a leader runs its group's statements join that group's commit (and its
 * fsync) instead of waiting for the next one: see {@link GroupCommitter#joinLate()}.
 */
class LateJoinTest {
  @TempDir Path dir;

  @AfterEach
  void clearHook() {
    SqliteWriter.afterStatementsHookForTests = null;
  }

  @Test
  void writersQueuedDuringStatements_joinTheSameCommit() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.builder(db).groupCommit(true).open()) {
      Map<String, Object> outcomes = new ConcurrentHashMap<>();
      Thread late = writer(store, "late", "2", outcomes);
      AtomicBoolean once = new AtomicBoolean();
      SqliteWriter.afterStatementsHookForTests =
          p -> {
            if (p.equals(db) && once.compareAndSet(false, true)) {
              // The leader has run its own statement and holds the lock: this writer queues now.
              late.start();
              try {
                awaitParked(late);
              } catch (InterruptedException e) {
                throw new AssertionError(e);
              }
            }
          };
      long commitsBefore = store.stats().commits();
      long writesBefore = store.stats().writes();
      assertThat(store.set("leader", "1")).isEmpty();
      late.join(30_000);

      assertThat(outcomes.get("late")).isEqualTo(Optional.empty());
      assertThat(store.get("leader")).contains("1");
      assertThat(store.get("late")).contains("2");
      KVLogStats stats = store.stats();
      assertThat(stats.commits() - commitsBefore)
          .as("the leader's write and the late one share one commit")
          .isEqualTo(1);
      assertThat(stats.writes() - writesBefore).isEqualTo(2);
    }
    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(reopened.get("leader")).contains("1");
      assertThat(reopened.get("late")).contains("2");
    }
  }

  private static Thread writer(
      KVLog<String, String> store, String key, String value, Map<String, Object> outcomes) {
    return new Thread(
        () -> {
          try {
            outcomes.put(key, store.set(key, value));
          } catch (RuntimeException e) {
            outcomes.put(key, e);
          }
        });
  }

  private static void awaitParked(Thread t) throws InterruptedException {
    for (int i = 0; i < 30_000; i++) {
      if (t.getState() == Thread.State.WAITING) {
        return;
      }
      Thread.sleep(1);
    }
    throw new AssertionError(t + " never parked");
  }
}
