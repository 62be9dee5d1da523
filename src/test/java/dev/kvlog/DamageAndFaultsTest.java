package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kvlog.cli.MainAccess;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Torn and damaged files, and faults of the machine: what a store does when the ground moves. */
class DamageAndFaultsTest {
  @TempDir Path dir;

  /** Leaves a store with a populated WAL, as a crash does: a writer child killed mid-stream. */
  Path crashedStore() throws Exception {
    Path db = dir.resolve("kv.db");
    Process child =
        ChildJvm.start(CrashWorkload.class, db.toString(), "7", dir.resolve("acks").toString());
    BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    assertThat(out.readLine()).isEqualTo("READY");
    Thread.sleep(400);
    child.destroyForcibly();
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(Files.size(dir.resolve("kv.db-wal"))).as("the crash left a WAL").isPositive();
    return db;
  }

  /** Copies the db and its WAL (not the -shm: SQLite rebuilds it) to {@code name}. */
  Path copyOf(Path db, String name) throws Exception {
    Path copy = dir.resolve(name);
    Files.copy(db, copy);
    Files.copy(db.resolveSibling("kv.db-wal"), copy.resolveSibling(name + "-wal"));
    return copy;
  }

  /**
   * Garbage or a partial frame after the last commit of the WAL: recovery keeps every committed
   * transaction and ignores the tail, because each WAL frame carries a checksum chained from the
   * previous one and only frames up to a valid commit frame count.
   */
  @Test
  void tornOrGarbageWalTail_isIgnored_everyCommitSurvives() throws Exception {
    Path db = crashedStore();
    Path pristine = copyOf(db, "pristine.db");
    Map<String, String> expected;
    try (KVLog<String, String> store = KVLog.load(pristine)) {
      expected = contents(store);
    }
    assertThat(expected).isNotEmpty();
    Random random = new Random(11);
    byte[] wal = Files.readAllBytes(db.resolveSibling("kv.db-wal"));
    int frame = 24 + 4096; // frame header + one page
    byte[][] tails = {
      randomBytes(random, 100), // garbage
      randomBytes(random, 3 * frame), // garbage that looks frame-sized
      Arrays.copyOfRange(wal, 32, 32 + frame / 2), // a torn copy of a real frame
      Arrays.copyOfRange(wal, wal.length - frame, wal.length), // a duplicate of the last frame
    };
    for (int i = 0; i < tails.length; i++) {
      Path damaged = copyOf(db, "damaged" + i + ".db");
      Files.write(
          damaged.resolveSibling("damaged" + i + ".db-wal"), tails[i], StandardOpenOption.APPEND);
      try (KVLog<String, String> store = KVLog.load(damaged)) {
        assertThat(contents(store)).as("tail %d", i).isEqualTo(expected);
      }
    }
    TortureSummary.record(
        "torn / garbage WAL tails appended after a crash", tails.length, expected.size(), 0);
  }

  static byte[] randomBytes(Random random, int n) {
    byte[] bytes = new byte[n];
    random.nextBytes(bytes);
    return bytes;
  }

  /**
   * A damaged byte in any b-tree page header of a closed store: opening refuses with a message that
   * names corruption and says to restore a backup, and leaves the file exactly as it was; or, if
   * the page is not one the store reads, it opens with exactly the data it had. Never a store
   * serving altered data as if it were sound.
   */
  @Test
  void flippedByteInABtreePageHeader_isReported_neverServed_neverRepaired() throws Exception {
    Path db = dir.resolve("kv.db");
    Map<String, String> original = new HashMap<>();
    try (KVLog<String, String> store = KVLog.load(db)) {
      for (int i = 0; i < 3000; i++) {
        original.put("key" + i, "value-" + i + "-" + "x".repeat(i % 50));
      }
      WriteBatch<String, String> batch = new WriteBatch<>();
      original.forEach(batch::set);
      store.write(batch);
    }
    byte[] pristine = Files.readAllBytes(db);
    int pages = pristine.length / 4096;
    int refused = 0;
    int harmless = 0;
    for (int page = 1; page < pages; page++) { // page 0 is the file header and schema
      for (int offset : new int[] {0, 3}) { // page type, cell count
        byte[] damaged = pristine.clone();
        damaged[page * 4096 + offset] ^= (byte) 0x5A;
        Path copy = dir.resolve("damaged.db");
        Files.write(copy, damaged);
        try (KVLog<String, String> store = KVLog.load(copy)) {
          assertThat(contents(store))
              .as(
                  "page %d offset %d: opened, so it must hold exactly the original data",
                  page, offset)
              .isEqualTo(original);
          harmless++;
        } catch (StoreOpenException e) {
          assertThat(e.getMessage()).contains("corrupt", "backup");
          assertThat(Files.readAllBytes(copy))
              .as("a refused open leaves the damaged file as it found it")
              .isEqualTo(damaged);
          for (String sidecar : new String[] {"-wal", "-shm", "-lock"}) {
            assertThat(copy.resolveSibling("damaged.db" + sidecar))
                .as("a refused open leaves nothing beside the file")
                .doesNotExist();
          }
          refused++;
        }
        Files.deleteIfExists(copy.resolveSibling("damaged.db-lock")); // of a harmless open
        Files.deleteIfExists(copy.resolveSibling("damaged.db-wal"));
        Files.deleteIfExists(copy.resolveSibling("damaged.db-shm"));
        Files.delete(copy);
      }
    }
    assertThat(refused).as("damaged stores refused").isPositive();
    TortureSummary.record(
        "damaged byte in a b-tree page header (refused " + refused + ", harmless " + harmless + ")",
        refused + harmless,
        0,
        0);
  }

  /** check() and the CLI report the damage of a store that opened without verification. */
  @Test
  void check_reportsDamage() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      for (int i = 0; i < 2000; i++) {
        store.write(new WriteBatch<String, String>().set("k" + i, "v".repeat(100)));
      }
      assertThat(store.check()).isEmpty();
    }
    // Damage the last page's cell pointers: the table still loads partially or fails; check sees
    // it.
    try (FileChannel f = FileChannel.open(db, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
      long lastPage = f.size() / 4096 - 1;
      f.write(ByteBuffer.wrap(new byte[] {(byte) 0xFF, (byte) 0xFF}), lastPage * 4096 + 8);
    }
    assertThatThrownBy(() -> KVLog.load(db))
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("is corrupt");
    MainAccess.Result result = MainAccess.run("--file", db.toString(), "check");
    assertThat(result.code()).isEqualTo(3);
    assertThat(result.err()).contains("is damaged", "backup");
  }

  /** The database file deleted while the store is open: writes fail clearly, reads go on. */
  @Test
  void fileDeletedUnderneath_writesFailClearly() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("a", "1");
      Files.delete(db);
      assertThatThrownBy(() -> store.set("b", "2"))
          .isInstanceOf(WriteFailedException.class)
          .hasMessageContaining("deleted or moved while the store was open");
      assertThat(store.get("a")).contains("1");
      assertThat(store.get("b")).isEmpty();
    }
  }

  /**
   * A real full disk: a 2 MiB tmpfs (root only). The failing write throws a clear exception, the
   * cache keeps the previous state, earlier writes survive, and once space returns the store works.
   */
  @Test
  void realDiskFull_onTmpfs_failsCleanly_andRecovers() throws Exception {
    assumeTrue("root".equals(System.getProperty("user.name")), "mounting a tmpfs needs root");
    Path mount = Files.createDirectories(dir.resolve("tiny"));
    Process m =
        new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount.toString())
            .redirectErrorStream(true)
            .start();
    assumeTrue(
        m.waitFor() == 0,
        "mount -t tmpfs failed: " + new String(m.getInputStream().readAllBytes()));
    try {
      Path filler = mount.resolve("filler");
      Files.write(filler, new byte[1 << 20]);
      Path db = mount.resolve("kv.db");
      Map<String, String> acknowledged = new HashMap<>();
      int faults = 0;
      try (KVLog<String, String> store = KVLog.load(db)) {
        WriteFailedException full = null;
        for (int i = 0; i < 10_000 && full == null; i++) {
          String value = i + "-" + "v".repeat(2000);
          try {
            store.set("k" + i, value);
            acknowledged.put("k" + i, value);
          } catch (WriteFailedException e) {
            full = e;
            faults++;
            assertThat(store.get("k" + i)).as("the failed write is not visible").isEmpty();
          }
        }
        assertThat(full).as("the tmpfs filled up").isNotNull();
        assertThat(full.getMessage()).containsAnyOf("full", "disk I/O error");
        assertThat(contents(store)).isEqualTo(acknowledged);
        if (!full.storeFailed()) {
          Files.delete(filler); // space returns
          store.set("after", "space returned");
          acknowledged.put("after", "space returned");
        }
      }
      Files.deleteIfExists(filler);
      try (KVLog<String, String> reopened = KVLog.load(db)) {
        assertThat(contents(reopened)).isEqualTo(acknowledged);
      }
      TortureSummary.record("real disk full (2 MiB tmpfs)", faults, acknowledged.size(), 0);
    } finally {
      new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor();
    }
  }
}
