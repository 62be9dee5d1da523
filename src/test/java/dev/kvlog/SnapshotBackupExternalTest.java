package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Ordered scans, online backup, and changes made by other connections while the store is open. */
class SnapshotBackupExternalTest {
  @TempDir Path dir;

  static List<String> keysOf(java.util.stream.Stream<Map.Entry<String, String>> entries) {
    try (entries) {
      return entries.map(Map.Entry::getKey).collect(Collectors.toList());
    }
  }

  @Test
  void scanAndRange_areInSqliteKeyOrder() {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      // U+FFFD sorts after U+10000 in UTF-16 units but before it in code points (SQLite's order).
      for (String k : List.of("b", "a", "ab", "a\uFFFD", "a\uD800\uDC00", "c", "")) {
        store.set(k, "v" + k);
      }
      assertThat(keysOf(store.range(null, null)))
          .containsExactly("", "a", "ab", "a\uFFFD", "a\uD800\uDC00", "b", "c");
      assertThat(keysOf(store.scan("a"))).containsExactly("a", "ab", "a\uFFFD", "a\uD800\uDC00");
      assertThat(keysOf(store.range("ab", "b"))).containsExactly("ab", "a\uFFFD", "a\uD800\uDC00");
      assertThat(keysOf(store.range("b", null))).containsExactly("b", "c");
      assertThat(store.scan("a").findFirst().orElseThrow().getValue()).isEqualTo("va");
    }
  }

  /**
   * A writer keeps two keys equal with batches; every scan must see them equal. A scan that read in
   * two transactions, or read the cache while a batch was being applied to it, could see one batch
   * half applied (both were tried: both fail here).
   */
  @Test
  void scan_isAConsistentSnapshot() throws Exception {
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      for (int i = 0; i < 2000; i++) {
        store.write(new WriteBatch<String, String>().set("pad" + i, "x"));
      }
      AtomicBoolean stop = new AtomicBoolean();
      CompletableFuture<Integer> writer =
          CompletableFuture.supplyAsync(
              () -> {
                int n = 0;
                while (!stop.get()) {
                  n++;
                  store.write(
                      new WriteBatch<String, String>()
                          .set("x", Integer.toString(n))
                          .set("y", Integer.toString(n)));
                }
                return n;
              });
      int scans = 0;
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      while (System.nanoTime() < until) {
        Map<String, String> seen =
            store.range("x", "z").collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
        assertThat(seen.get("x"))
            .as("scan %d saw a half-applied batch", scans)
            .isEqualTo(seen.get("y"));
        scans++;
      }
      stop.set(true);
      assertThat(writer.get(30, TimeUnit.SECONDS)).isPositive();
    }
  }

  /**
   * A backup taken while a writer runs holds a prefix of the writer's acknowledged history: every
   * write acknowledged before the backup started, and nothing after a gap.
   */
  @Test
  void backup_underConcurrentWrites_isAPrefixOfTheHistory() throws Exception {
    Path copy = dir.resolve("backups").resolve("copy.db");
    Files.createDirectories(copy.getParent());
    AtomicInteger acked = new AtomicInteger(-1);
    int ackedBeforeBackup;
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      AtomicBoolean stop = new AtomicBoolean();
      CompletableFuture<Void> writer =
          CompletableFuture.runAsync(
              () -> {
                for (int i = 0; !stop.get(); i++) {
                  store.set(String.format("k%06d", i), Integer.toString(i));
                  acked.set(i);
                }
              });
      while (acked.get() < 50) {
        Thread.sleep(1);
      }
      ackedBeforeBackup = acked.get();
      store.backup(copy);
      stop.set(true);
      writer.get(30, TimeUnit.SECONDS);
      assertThatThrownBy(() -> store.backup(copy))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("already exists");
    }
    assertThat(Files.getPosixFilePermissions(copy))
        .isEqualTo(PosixFilePermissions.fromString("rw-------"));
    try (KVLog<String, String> restored = KVLog.load(copy)) {
      Map<String, String> state = contents(restored);
      int n = state.size();
      assertThat(n).as("acknowledged before the backup").isGreaterThan(ackedBeforeBackup);
      for (int i = 0; i < n; i++) {
        assertThat(state).containsEntry(String.format("k%06d", i), Integer.toString(i));
      }
    }
    try (var files = Files.list(copy.getParent())) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .as("no temporary file left")
          .allMatch(name -> name.startsWith("copy.db"));
    }
  }

  static boolean sqlite3Installed() {
    try {
      return new ProcessBuilder("sqlite3", "--version").start().waitFor() == 0;
    } catch (Exception e) {
      return false;
    }
  }

  static void sqlite3(Path db, String sql) throws Exception {
    Process p =
        new ProcessBuilder("sqlite3", "-cmd", ".timeout 10000", db.toString(), sql)
            .redirectErrorStream(true)
            .start();
    String output = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as("sqlite3 said: %s", output).isZero();
  }

  /** Edits made with the real sqlite3 shell while the store is open reach its cache. */
  @Test
  void externalEdits_withTheSqlite3Shell_areSeen() throws Exception {
    assumeTrue(sqlite3Installed(), "the sqlite3 command is not installed");
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store =
        KVLog.builder(db).externalChangeCheck(Duration.ofMillis(50)).open()) {
      store.set("a", "1");
      store.set("gone", "x");
      sqlite3(
          db,
          "UPDATE kv SET value = 'edited' WHERE key = 'a'; DELETE FROM kv WHERE key = 'gone';"
              + " INSERT INTO kv VALUES ('new', 'from sqlite3');");
      // Reads: within the polling interval (allow much more on a busy machine).
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (!store.get("new").isPresent() && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(contents(store)).isEqualTo(Map.of("a", "edited", "new", "from sqlite3"));
      assertThat(store.stats().externalReloads()).isPositive();

      // Writes: decided against the table, even with polling off.
    }
    try (KVLog<String, String> store =
        KVLog.builder(db).externalChangeCheck(Duration.ZERO).open()) {
      sqlite3(db, "UPDATE kv SET value = 'again' WHERE key = 'a';");
      assertThat(store.get("a"))
          .as("no polling: the read still sees the old value")
          .contains("edited");
      assertThat(store.set("a", "mine"))
          .as("the prior value comes from the table")
          .contains("again");
      assertThat(store.compareAndSet("new", "from sqlite3", "cas")).isTrue();
      sqlite3(db, "INSERT INTO kv VALUES ('late', '1');");
      assertThat(store.refresh()).isTrue();
      assertThat(store.get("late")).contains("1");
      assertThat(store.refresh()).isFalse();
    }
  }
}
