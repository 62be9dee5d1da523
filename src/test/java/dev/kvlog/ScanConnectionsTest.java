package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.sqlite.BoundedProbe;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A scan holds a pooled connection only while it reads, not while its sync step waits for a commit
 * in progress: from an outside review, where 200 virtual threads scanning beside writers timed out
 * waiting for one of the pool's two spare connections.
 */
class ScanConnectionsTest {
  @TempDir Path dir;

  @AfterEach
  void clearHooks() {
    BoundedProbe.afterStatements(null);
  }

  /**
   * A write is held inside its transaction; three scans read and wait for it; a check(), which
   * needs a pooled connection, must still get one. The break this catches: the scans keep their
   * connections through the wait (then check() waits for the pool's timeout).
   */
  @Test
  void scans_waitingForACommit_holdNoPooledConnection() throws Exception {
    try (KVLog<String, String> store = KVLog.open(dir.resolve("kv.db"))) {
      store.set("a", "1");
      CountDownLatch inWrite = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      BoundedProbe.afterStatements(
          p -> {
            if (inWrite.getCount() > 0) {
              inWrite.countDown();
              try {
                release.await(60, TimeUnit.SECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            }
          });
      // A thread per task: on JDK 25 CompletableFuture's default pool has one thread on 2 cores.
      ExecutorService threads = Executors.newCachedThreadPool();
      CompletableFuture<?> write = CompletableFuture.runAsync(() -> store.set("b", "2"), threads);
      assertThat(inWrite.await(30, TimeUnit.SECONDS)).isTrue();
      List<CompletableFuture<Map<String, String>>> scans = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        scans.add(
            CompletableFuture.supplyAsync(
                () -> {
                  try (var entries = store.range(null, null)) {
                    return entries.collect(
                        Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
                  }
                }));
      }
      Thread.sleep(500); // the scans read, then wait for the writer lock
      CompletableFuture<List<String>> check = CompletableFuture.supplyAsync(store::check, threads);
      try {
        assertThat(check.get(5, TimeUnit.SECONDS)).isEmpty();
      } finally {
        release.countDown();
      }
      write.get(30, TimeUnit.SECONDS);
      for (CompletableFuture<Map<String, String>> scan : scans) {
        assertThat(scan.get(30, TimeUnit.SECONDS)).containsEntry("a", "1");
      }
      threads.shutdown();
    }
  }
}
