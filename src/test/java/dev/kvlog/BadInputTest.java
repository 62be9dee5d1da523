package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each bad input gets a clear exception, and the store keeps every acknowledged write. */
class BadInputTest {
  @TempDir Path dir;
  Path db;
  KVLog<String, String> store;
  static final Map<String, String> ACKNOWLEDGED = Map.of("a", "1", "b", "2");

  @BeforeEach
  void openWithData() {
    db = dir.resolve("kv.db");
    store = KVLog.load(db);
    ACKNOWLEDGED.forEach(store::set);
  }

  @AfterEach
  void nothingWasLost() {
    assertThat(contents(store)).isEqualTo(ACKNOWLEDGED);
    store.set("still", "usable");
    assertThat(store.delete("still")).contains("usable");
    store.close();
    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(contents(reopened)).isEqualTo(ACKNOWLEDGED);
    }
  }

  @Test
  void nullKeyOrValue_isRejectedByName() {
    assertThatThrownBy(() -> store.get(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("key must not be null");
    assertThatThrownBy(() -> store.set(null, "v"))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("key must not be null");
    assertThatThrownBy(() -> store.delete(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("key must not be null");
    assertThatThrownBy(() -> store.set("a", null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("value must not be null; use delete(key) to remove a key");
  }

  @Test
  void unpairedSurrogate_isRejectedWithItsIndex() {
    assertThatThrownBy(() -> store.set("ab\uD800c", "v"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("key must be valid UTF-16: unpaired surrogate \\uD800 at index 2");
    assertThatThrownBy(() -> store.set("a", "\uDC00"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(
            "value must be valid UTF-16: unpaired surrogate \\uDC00 at index 0");
    assertThatThrownBy(() -> store.set("a", "x\uD83D")) // high surrogate at the very end
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(
            "value must be valid UTF-16: unpaired surrogate \\uD83D at index 1");
    assertThatThrownBy(() -> store.get("\uDE00\uD83D"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at index 0");
    assertThatThrownBy(() -> store.delete("ok\uDFFF"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at index 2");
  }

  /**
   * SQLite checks a read's key only after a miss (a hit proves it valid); the exceptions stay those
   * of checking first: a bad key is refused even once the store is closed, where a good key meets
   * the closed store.
   */
  @Test
  void get_badKey_refusedOnAMiss_andOnAClosedStore_asBeforeTheLookup() {
    KVLog<String, String> other = KVLog.load(dir.resolve("other.db"));
    other.set("ok", "v");
    assertThat(other.get("ok")).contains("v");
    assertThatThrownBy(() -> other.get("x\uD800"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at index 1");
    assertThatThrownBy(() -> other.get(null)).isInstanceOf(NullPointerException.class);
    other.close();
    assertThatThrownBy(() -> other.get("x\uD800"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at index 1");
    assertThatThrownBy(() -> other.get("ok")).isInstanceOf(StoreClosedException.class);
  }

  @Test
  void secondOpenOfTheSameStoreInThisJvm_isRefusedNamingThePath() {
    assertThatThrownBy(() -> KVLog.load(db))
        .isInstanceOf(StoreLockedException.class)
        .hasMessageContaining(db.toAbsolutePath() + " is already open in this JVM");
  }

  @Test
  void useAfterClose_fails() {
    KVLog<String, String> other = KVLog.load(dir.resolve("other.db"));
    other.close();
    assertThatThrownBy(() -> other.set("k", "v"))
        .isInstanceOf(StoreClosedException.class)
        .hasMessageContaining("other.db is closed");
  }

  @Test
  void diskFull_failsTheWrite_keepsTheCache_andTheStoreRecovers() {
    store.close();
    String big = "x".repeat(64 * 1024);
    // max_page_count caps the database at 64 pages of 4 KiB: a portable stand-in for a full disk.
    try (KVLog<String, String> small = KVLog.builder(db).pragma("max_page_count", "64").open()) {
      small.set("big1", big);
      WriteFailedException full = null;
      int i = 2;
      for (; i < 100 && full == null; i++) {
        try {
          small.set("big" + i, big);
        } catch (WriteFailedException e) {
          full = e;
        }
      }
      assertThat(full).as("the capped database filled up").isNotNull();
      assertThat(full.getMessage())
          .contains("set of key \"big" + (i - 1) + "\"", "full", "free space");
      assertThat(full.storeFailed()).isFalse();
      assertThat(full.getCause()).isInstanceOf(java.sql.SQLException.class);
      assertThat(small.get("big" + (i - 1))).as("cache unchanged by the failed write").isEmpty();
      assertThat(small.get("big1")).contains(big);
      // Space returns: the store works again.
      for (int j = 1; j < i - 1; j++) {
        assertThat(small.delete("big" + j)).contains(big);
      }
      assertThat(small.set("big" + (i - 1), big)).isEmpty();
      assertThat(small.delete("big" + (i - 1))).contains(big);
    }
    store = KVLog.load(db);
  }

  // ---- paths and files that are not stores: refused, and never modified ----

  @Test
  void directory_isRefused() {
    assertThatThrownBy(() -> KVLog.load(dir))
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining(dir + " is a directory; give KVLog the path of a database file");
  }

  @Test
  void fileThatIsNotSqlite_isRefusedAndLeftUntouched() throws Exception {
    Path garbage = dir.resolve("garbage.db");
    byte[] bytes = new byte[8192];
    new Random(1).nextBytes(bytes);
    Files.write(garbage, bytes);
    assertThatThrownBy(() -> KVLog.load(garbage))
        .isInstanceOf(StoreOpenException.class)
        .hasMessage(
            garbage + " is not a KVLog store (file is not a SQLite database); refusing to open it");
    assertThat(Files.readAllBytes(garbage)).isEqualTo(bytes);
    assertThat(dir.resolve("garbage.db-wal")).doesNotExist();

    Path tiny = dir.resolve("tiny.db");
    Files.writeString(tiny, "hello");
    assertThatThrownBy(() -> KVLog.load(tiny))
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("file is not a SQLite database");
    assertThat(Files.readString(tiny)).isEqualTo("hello");
  }

  @Test
  void sqliteDatabaseOfSomeoneElse_isRefusedAndLeftUntouched() throws Exception {
    Path foreign = dir.resolve("app.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + foreign);
        Statement s = c.createStatement()) {
      s.executeUpdate("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)");
      s.executeUpdate("INSERT INTO users(name) VALUES ('ada')");
    }
    byte[] before = Files.readAllBytes(foreign);
    assertThatThrownBy(() -> KVLog.load(foreign))
        .isInstanceOf(StoreOpenException.class)
        .hasMessage(
            foreign
                + " is a SQLite database but not a KVLog store (application_id=0,"
                + " tables=[users]); refusing to open it. Choose another path.");
    assertThat(Files.readAllBytes(foreign)).isEqualTo(before);
  }

  @Test
  void unwritableDirectory_isRefused() throws Exception {
    assumeTrue(
        !"root".equals(System.getProperty("user.name")),
        "root ignores directory permissions; the read-only mount test covers root");
    Path locked = Files.createDirectory(dir.resolve("locked"));
    Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-x------"));
    try {
      assertThatThrownBy(() -> KVLog.load(locked.resolve("kv.db")))
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining("directory " + locked + " is not writable");
    } finally {
      Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
    }
  }

  @Test
  void readOnlyFileSystem_isRefused() throws Exception {
    assumeTrue("root".equals(System.getProperty("user.name")), "mounting needs root");
    Path mount = Files.createDirectory(dir.resolve("ro"));
    assumeTrue(
        run("mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", mount.toString()) == 0,
        "cannot mount a tmpfs here");
    try {
      assertThatThrownBy(() -> KVLog.load(mount.resolve("kv.db")))
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining("directory " + mount + " is not writable");
    } finally {
      run("umount", mount.toString());
    }
  }

  static int run(String... command) throws Exception {
    return new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start()
        .waitFor();
  }
}
