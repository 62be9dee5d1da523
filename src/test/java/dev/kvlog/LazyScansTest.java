package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.kvlog.spi.Backend;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The facade's side of lazy scans on SQLite: what the contract suite cannot reach. */
class LazyScansTest {
  @TempDir Path dir;

  /**
   * close() ends an open pinned scan before it checkpoints, so the WAL is truncated as with no scan
   * open (a scan left open would pin it, and close would leave the WAL behind, as a {@code sqlite3}
   * reader does in CloseWithReaderTest).
   */
  @Test
  void close_withAPinnedScanOpen_stillTruncatesTheWal() throws Exception {
    Path db = dir.resolve("kv.db");
    KVLog<String, String> store = KVLog.open(db);
    for (int i = 0; i < 100; i++) {
      store.set("k" + i, "v" + i);
    }
    Iterator<Map.Entry<String, String>> pinned = store.scan("k", Scan.pinned(10)).iterator();
    pinned.next();
    for (int i = 0; i < 100; i++) {
      store.set("w" + i, "after the snapshot");
    }
    store.close();
    Path wal = db.resolveSibling("kv.db-wal");
    assertThat(!Files.exists(wal) || Files.size(wal) == 0).as("WAL truncated or removed").isTrue();
    assertThatThrownBy(pinned::next).isInstanceOf(StoreClosedException.class);
  }

  /** A pinned stream dropped without being closed is closed once the garbage collector finds it. */
  @Test
  void unreachableUnclosedPinnedStream_isClosedByTheCleaner() throws Exception {
    try (KVLog<String, String> store = KVLog.open(dir.resolve("kv.db"))) {
      for (int i = 0; i < 10; i++) {
        store.set("k" + i, "v");
      }
      openAndDrop(store);
      assertThat(store.lazyScans.openCursors()).isEqualTo(1);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); // liveness, not speed
      while (store.lazyScans.openCursors() > 0 && System.nanoTime() < deadline) {
        System.gc();
        Thread.sleep(20);
      }
      assertThat(store.lazyScans.openCursors()).as("cursors left open").isZero();
    }
  }

  private static void openAndDrop(KVLog<String, String> store) {
    Iterator<Map.Entry<String, String>> it = store.scan("k", Scan.pinned(1)).iterator();
    assertThat(it.next().getKey()).isEqualTo("k0");
  }

  /**
   * A backend whose pages repeat the last key of the page before would make a paged scan loop
   * forever; the facade refuses such a page with a message naming the fault.
   */
  @Test
  void pageRepeatingTheLastKey_failsTheScan_insteadOfLooping() throws Exception {
    try (KVLog<String, String> real = KVLog.open(dir.resolve("kv.db"))) {
      for (int i = 0; i < 10; i++) {
        real.set("k" + i, "v");
      }
      Backend backend = real.backend();
      Backend faulty =
          (Backend)
              Proxy.newProxyInstance(
                  Backend.class.getClassLoader(),
                  new Class<?>[] {Backend.class},
                  (proxy, method, args) -> {
                    if (method.getName().equals("rangePage") && args[2] != null) {
                      args[2] = ((String) args[2]).substring(0, 1); // "k": repeats keys
                    }
                    try {
                      return method.invoke(backend, args);
                    } catch (InvocationTargetException e) {
                      throw e.getCause();
                    }
                  });
      KVLog<String, String> store = new KVLog<>(faulty, Codecs.string(), Codecs.string());
      // Liveness, not speed: without the check this call never returns.
      assertThatThrownBy(
              () ->
                  assertTimeoutPreemptively(
                      Duration.ofSeconds(60), () -> store.scan("k", Scan.paged(3)).toList()))
          .isInstanceOf(KVLogException.class)
          .hasMessageContaining("out of key order (\"k0\" after \"k2\")")
          .hasMessageContaining("rangePage is faulty");
      assertThat(store.scan("k", Scan.paged(100)).map(Map.Entry::getKey).toList())
          .as("one page: nothing to repeat")
          .isEqualTo(List.of("k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"));
    }
  }
}
