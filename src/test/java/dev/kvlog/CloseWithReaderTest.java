package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * close() checkpoints and truncates the WAL, but a reader on another connection (a sqlite3 shell in
 * BEGIN) can hold that checkpoint off for as long as it likes: close must not wait the whole
 * busyTimeout (up to an hour) for it. It leaves the WAL, which the next open replays.
 */
class CloseWithReaderTest {
  @TempDir Path dir;

  @Test
  void close_whileAnotherConnectionReads_returnsWithoutWaitingTheBusyTimeout_andLosesNothing()
      throws Exception {
    Path db = dir.resolve("kv.db");
    KVLog<String, String> store = KVLog.builder(db).busyTimeout(Duration.ofMinutes(10)).open();
    for (int i = 0; i < 100; i++) {
      store.set("k" + i, "v" + i);
    }
    try (Connection reader = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = reader.createStatement()) {
      s.execute("BEGIN");
      try (ResultSet r = s.executeQuery("SELECT count(*) FROM kv")) {
        assertThat(r.next()).isTrue();
        assertThat(r.getInt(1)).isEqualTo(100); // the snapshot reads the WAL's frames
      }
      CompletableFuture<Void> closing = CompletableFuture.runAsync(store::close);
      // Liveness, not speed: the broken behaviour waits 10 minutes; the reader is still in BEGIN.
      closing.get(60, TimeUnit.SECONDS);
      assertThat(Files.exists(dir.resolve("kv.db-wal"))).isTrue(); // left for the next open
      s.execute("ROLLBACK");
    }
    try (KVLog<String, String> reopened = KVLog.builder(db).open()) {
      assertThat(reopened.size()).isEqualTo(100);
      assertThat(reopened.get("k99")).contains("v99");
    }
  }
}
