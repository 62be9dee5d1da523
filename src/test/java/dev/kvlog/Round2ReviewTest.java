package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the second outside review reproduced in the SQLite engine, each fixed after it failed. */
class Round2ReviewTest {
  record Pt(int x, int y) {}

  @TempDir Path dir;

  /** A key written by another tool in another text form is not a second copy of the key. */
  @Test
  void keyStoredInAnotherTextForm_isCorrupt_notADuplicateThatGetCannotReach() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<Pt, String> store =
        KVLog.builder(db, Codecs.json(Pt.class), Codecs.string()).open()) {
      store.set(new Pt(1, 2), "canonical");
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.executeUpdate("INSERT INTO kv VALUES ('{\"y\":2,\"x\":1}', 'reordered')");
    }
    try (KVLog<Pt, String> store =
        KVLog.builder(db, Codecs.json(Pt.class), Codecs.string()).open()) {
      assertThat(store.get(new Pt(1, 2))).contains("canonical");
      assertThatThrownBy(() -> store.range(null, null).toList())
          .isInstanceOf(CorruptValueException.class)
          .hasMessageContaining("another row");
      assertThatThrownBy(() -> store.forEach((k, v) -> {}))
          .isInstanceOf(CorruptValueException.class);
    }
  }

  /** range and scan racing close() throw StoreClosedException, never the pool's own message. */
  @Test
  void rangeRacingClose_throwsStoreClosed() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      for (int round = 0; round < 40; round++) {
        KVLog<String, String> store = KVLog.load(dir.resolve("r" + round + ".db"));
        for (int i = 0; i < 500; i++) {
          store.set("k" + i, "v" + i);
        }
        List<Future<?>> readers = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
          readers.add(
              pool.submit(
                  () -> {
                    for (; ; ) {
                      try {
                        assertThat(store.range(null, null).count()).isEqualTo(500);
                        assertThat(store.scan("k1").count()).isEqualTo(111);
                      } catch (StoreClosedException expected) {
                        return null;
                      }
                    }
                  }));
        }
        Thread.sleep(5 + round % 20);
        store.close();
        for (Future<?> f : readers) {
          f.get(); // an exception other than StoreClosedException fails the test here
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
