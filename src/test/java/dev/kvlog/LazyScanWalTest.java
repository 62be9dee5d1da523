package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A slow consumer of a paged scan does not pin the SQLite WAL; a pinned scan does, until closed.
 * Both are measured in one test, each with a scan left half-consumed while writers commit about 18
 * MB of WAL frames beside it: with the paged scan the checkpoints restart the WAL and it stays near
 * its threshold; with the pinned one it holds every frame (the negative control, which shows that
 * this workload does grow the WAL when a reader pins it).
 */
class LazyScanWalTest {
  private static final int COMMITS = 3_000;
  private static final String VALUE = "v".repeat(10_000); // ~3 pages a commit

  @TempDir Path dir;

  @Test
  void halfConsumedPagedScan_letsTheWalRestart_butAPinnedOneHoldsIt() throws Exception {
    long paged = walAfterWritesBeside(Scan.paged(10));
    long pinned = walAfterWritesBeside(Scan.pinned(10));
    System.out.printf("WAL beside paged: %d bytes, beside pinned: %d bytes%n", paged, pinned);
    long values = (long) COMMITS * VALUE.length(); // 30 MB; SQLite writes ~6 KB of WAL per commit
    assertThat(pinned).as("WAL beside a pinned scan").isGreaterThan(values / 2);
    assertThat(paged)
        .as("WAL beside a paged scan")
        .isLessThan(values / 4); // its 4 MB threshold, plus lag
  }

  /** The WAL's size after {@link #COMMITS} writes made while a scan in mode {@code how} is open. */
  private long walAfterWritesBeside(Scan how) throws Exception {
    Path db = Files.createTempDirectory(dir, "wal").resolve("kv.db");
    try (KVLog<String, String> store = KVLog.open(db)) {
      for (int i = 0; i < 100; i++) {
        store.set(String.format("s%03d", i), "x");
      }
      try (Stream<Map.Entry<String, String>> scan = store.scan("s", how)) {
        Iterator<Map.Entry<String, String>> it = scan.iterator();
        for (int i = 0; i < 50; i++) { // half-consumed: the fifth page is the last read
          it.next();
        }
        for (int i = 0; i < COMMITS; i++) {
          store.set("w" + (i % 50), i + VALUE);
        }
        long wal = Files.size(db.resolveSibling("kv.db-wal"));
        int rest = 0;
        while (it.hasNext()) {
          it.next();
          rest++;
        }
        assertThat(rest).as("%s: the rest of the scan", how).isEqualTo(50);
        return wal;
      }
    }
  }
}
