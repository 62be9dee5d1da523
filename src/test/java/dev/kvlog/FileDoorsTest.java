package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The doors to a store's files: other names for the same file (symlinks, hard links, bind mounts),
 * and files that are refused. Invariants checked: one owner per file whatever the path, and
 * refusing a file never changes it (nor leaves a -wal, -shm or -lock beside it).
 */
class FileDoorsTest {
  @TempDir Path dir;

  // ---- symlinks -------------------------------------------------------------------------------

  @Test
  void symlinkToAnOpenStore_inThisJvm_isRefused() throws Exception {
    Path real = dir.resolve("real.db");
    Path link = Files.createSymbolicLink(dir.resolve("link.db"), real.getFileName());
    try (KVLog<String, String> store = KVLog.load(real)) {
      store.set("k", "v");
      assertThatThrownBy(() -> KVLog.load(link).close())
          .isInstanceOf(StoreLockedException.class)
          .hasMessageContaining("already open in this JVM");
      store.set("k", "still the owner");
    }
    assertThat(dir.resolve("link.db-lock")).doesNotExist();
  }

  @Test
  void symlinkedDirectory_andLinkToLink_mapToTheSameOwner() throws Exception {
    Path realDir = Files.createDirectories(dir.resolve("data"));
    Path linkDir = Files.createSymbolicLink(dir.resolve("alias"), realDir);
    Path real = realDir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(linkDir.resolve("kv.db"))) {
      store.set("k", "v");
      Path linkToLink = Files.createSymbolicLink(dir.resolve("l2.db"), linkDir.resolve("kv.db"));
      assertThatThrownBy(() -> KVLog.load(real).close()).isInstanceOf(StoreLockedException.class);
      assertThatThrownBy(() -> KVLog.load(linkToLink).close())
          .isInstanceOf(StoreLockedException.class);
    }
    assertThat(real).exists();
  }

  @Test
  void symlinkToAStoreOpenInAnotherProcess_isRefused_bothWays() throws Exception {
    Path real = dir.resolve("real.db");
    Path link = Files.createSymbolicLink(dir.resolve("link.db"), real.getFileName());
    Process owner = ChildJvm.start(HoldStoreChild.class, real.toString());
    try {
      assertThat(firstLine(owner)).isEqualTo("OPEN");
      assertThatThrownBy(() -> KVLog.load(link).close())
          .isInstanceOf(StoreLockedException.class)
          .hasMessageContaining("pid " + owner.pid());
    } finally {
      stop(owner);
    }
    Process linkOwner = ChildJvm.start(HoldStoreChild.class, link.toString());
    try {
      assertThat(firstLine(linkOwner)).isEqualTo("OPEN");
      assertThatThrownBy(() -> KVLog.load(real).close())
          .isInstanceOf(StoreLockedException.class)
          .hasMessageContaining("pid " + linkOwner.pid());
    } finally {
      stop(linkOwner);
    }
  }

  @Test
  void symlinkToAFileNotYetCreated_createsTheStoreAtTheTarget_namedAfterIt() throws Exception {
    Path realDir = Files.createDirectories(dir.resolve("data"));
    Path link = Files.createSymbolicLink(dir.resolve("link.db"), Path.of("data/kv.db"));
    try (KVLog<String, String> store = KVLog.load(link)) {
      store.set("k", "v");
      assertThatThrownBy(() -> KVLog.load(realDir.resolve("kv.db")).close())
          .isInstanceOf(StoreLockedException.class);
      assertThat(realDir.resolve("kv.db-lock")).exists();
    }
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("data", "link.db");
    try (KVLog<String, String> store = KVLog.load(realDir.resolve("kv.db"))) {
      assertThat(store.get("k")).contains("v");
    }
  }

  @Test
  void symlinkIntoAMissingDirectory_isRefused_andNothingIsCreated() throws Exception {
    Path link = Files.createSymbolicLink(dir.resolve("link.db"), dir.resolve("missing/kv.db"));
    assertThatThrownBy(() -> KVLog.load(link).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("is a symbolic link to " + dir.resolve("missing/kv.db"))
        .hasMessageContaining("create " + dir.resolve("missing"));
    assertThat(namesIn(dir)).containsExactly("link.db");
  }

  // ---- hard links -----------------------------------------------------------------------------

  @Test
  void hardLinkedStore_isRefused_evenWhileAnotherProcessOwnsTheOtherName() throws Exception {
    Path real = dir.resolve("real.db");
    try (KVLog<String, String> store = KVLog.load(real)) {
      store.set("k", "v");
    }
    Path hard = Files.createLink(dir.resolve("hard.db"), real);
    byte[] before = Files.readAllBytes(real);
    Process owner = ChildJvm.start(HoldStoreChild.class, real.toString());
    String ownerSaid;
    try {
      ownerSaid = firstLine(owner);
      if (!"OPEN".equals(ownerSaid)) {
        // Refused too (the fix): then no process owns it, and this one is refused on its own.
        assertThat(ownerSaid).startsWith("REFUSED ").contains("hard link");
      }
      assertThatThrownBy(() -> KVLog.load(hard).close())
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining(hard.toString())
          .hasMessageContaining("2 hard links")
          .hasMessageContaining("remove the other names");
    } finally {
      stop(owner);
    }
    assertThat(ownerSaid)
        .as("the owner of the other name was refused as well")
        .isNotEqualTo("OPEN");
    assertUnchanged(hard, before);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("real.db", "real.db-lock", "hard.db");

    Files.delete(hard); // the fix the message names
    try (KVLog<String, String> store = KVLog.load(real)) {
      assertThat(store.get("k")).contains("v");
    }
  }

  /** The link made while another process owns the store: the second name is still refused. */
  @Test
  void hardLinkMadeWhileAnotherProcessOwnsTheStore_isRefused() throws Exception {
    Path real = dir.resolve("real.db");
    Process owner = ChildJvm.start(HoldStoreChild.class, real.toString());
    try {
      assertThat(firstLine(owner)).isEqualTo("OPEN");
      Path hard = Files.createLink(dir.resolve("hard.db"), real);
      assertThatThrownBy(() -> KVLog.load(hard).close())
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining("2 hard links");
      assertThat(dir.resolve("hard.db-lock")).doesNotExist();
      assertThat(dir.resolve("hard.db-wal")).doesNotExist();
    } finally {
      stop(owner);
    }
  }

  // ---- bind mounts (one inode, two unrelated paths) -----------------------------------------

  @Test
  void bindMountedDirectory_inThisJvm_isRefused_andTheOwnersLockSurvives() throws Exception {
    assumeTrue("root".equals(System.getProperty("user.name")), "mount --bind needs root");
    Path a = Files.createDirectories(dir.resolve("a"));
    Path b = Files.createDirectories(dir.resolve("b"));
    Process m =
        new ProcessBuilder("mount", "--bind", a.toString(), b.toString())
            .redirectErrorStream(true)
            .start();
    String mountOut = new String(m.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assumeTrue(m.waitFor() == 0, "mount --bind failed: " + mountOut);
    try {
      try (KVLog<String, String> store = KVLog.load(a.resolve("kv.db"))) {
        store.set("k", "v");
        assertThatThrownBy(() -> KVLog.load(b.resolve("kv.db")).close())
            .isInstanceOf(StoreLockedException.class)
            .hasMessageContaining("already open in this JVM");
        // The refused open must not have closed a descriptor of the lock file: if it had, the
        // owner's POSIX lock would be gone and another process could become a second owner.
        Process other = ChildJvm.start(HoldStoreChild.class, a.resolve("kv.db").toString());
        String said = firstLine(other);
        stop(other);
        assertThat(said).startsWith("LOCKED ");
        store.set("k", "still the only owner");
      }
      // Across processes the OS lock on the one lock file decides.
      Process owner = ChildJvm.start(HoldStoreChild.class, a.resolve("kv.db").toString());
      try {
        assertThat(firstLine(owner)).isEqualTo("OPEN");
        assertThatThrownBy(() -> KVLog.load(b.resolve("kv.db")).close())
            .isInstanceOf(StoreLockedException.class)
            .hasMessageContaining("pid " + owner.pid());
      } finally {
        stop(owner);
      }
    } finally {
      new ProcessBuilder("umount", "-l", b.toString()).start().waitFor();
    }
  }

  // ---- refusing a file never changes it -----------------------------------------------------

  /**
   * A damaged store whose journal mode is not WAL (converted by a tool, or a file restored from
   * elsewhere): the check must run before anything switches it to WAL (header bytes 18 and 19).
   */
  @Test
  void damagedStoreInRollbackMode_isRefused_byteIdentical_noSidecars() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      WriteBatch<String, String> batch = new WriteBatch<>();
      for (int i = 0; i < 3000; i++) {
        batch.set("key" + i, "value-" + i + "-" + "x".repeat(i % 50));
      }
      store.write(batch);
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=DELETE");
    }
    Files.delete(dir.resolve("kv.db-lock"));
    byte[] damaged = Files.readAllBytes(db);
    assertThat(damaged[18]).as("rollback journal mode").isEqualTo((byte) 1);
    int lastPage = damaged.length / 4096 - 1;
    damaged[lastPage * 4096 + 8] = (byte) 0xFF; // cell pointers of the last page
    damaged[lastPage * 4096 + 9] = (byte) 0xFF;
    Files.write(db, damaged);

    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("is corrupt: SQLite's check found")
        .hasMessageContaining("Restore it from a backup");
    assertUnchanged(db, damaged);
    assertThat(namesIn(dir)).containsExactly("kv.db");
  }

  /** The same for a damaged store in WAL mode whose -wal holds commits (a crash, then damage). */
  @Test
  void damagedStoreWithAWal_isRefused_dbAndWalByteIdentical() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      WriteBatch<String, String> batch = new WriteBatch<>();
      for (int i = 0; i < 3000; i++) {
        batch.set("key" + i, "value-" + i + "-" + "x".repeat(i % 50));
      }
      store.write(batch);
    }
    Files.delete(dir.resolve("kv.db-lock"));
    // Commits in a -wal that nobody checkpointed: what a crashed owner leaves.
    Path copy = dir.resolve("copy.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA wal_autocheckpoint=0");
      s.execute("UPDATE kv SET value = 'changed' WHERE key = 'key1'");
      Files.copy(db, copy);
      Files.copy(dir.resolve("kv.db-wal"), dir.resolve("copy.db-wal"));
    }
    byte[] damaged = Files.readAllBytes(copy);
    int lastPage = damaged.length / 4096 - 1;
    damaged[lastPage * 4096 + 8] = (byte) 0xFF;
    damaged[lastPage * 4096 + 9] = (byte) 0xFF;
    Files.write(copy, damaged);
    byte[] wal = Files.readAllBytes(dir.resolve("copy.db-wal"));

    assertThatThrownBy(() -> KVLog.load(copy).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("is corrupt: SQLite's check found")
        .hasMessageContaining("Restore it from a backup");
    assertUnchanged(copy, damaged);
    assertUnchanged(dir.resolve("copy.db-wal"), wal);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("kv.db", "copy.db", "copy.db-wal");
  }

  @Test
  void foreignSqliteDatabase_isRefused_byteIdentical_noSidecars() throws Exception {
    Path db = dir.resolve("theirs.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER)");
      s.execute("INSERT INTO accounts VALUES (1, 100)");
    }
    byte[] before = Files.readAllBytes(db);
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("not a KVLog store");
    assertUnchanged(db, before);
    assertThat(namesIn(dir)).containsExactly("theirs.db");
  }

  @Test
  void foreignWalModeDatabase_isRefused_byteIdentical_noSidecars() throws Exception {
    Path db = dir.resolve("theirs.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("CREATE TABLE t(x)");
    }
    byte[] before = Files.readAllBytes(db);
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("not a KVLog store");
    assertUnchanged(db, before);
    assertThat(namesIn(dir)).containsExactly("theirs.db");
  }

  @Test
  void foreignNonSqliteFile_isRefused_byteIdentical_noSidecars() throws Exception {
    Path file = dir.resolve("notes.txt");
    byte[] before = "my notes, not a database\n".repeat(20).getBytes(StandardCharsets.UTF_8);
    Files.write(file, before);
    assertThatThrownBy(() -> KVLog.load(file).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("not a SQLite database");
    assertUnchanged(file, before);
    assertThat(namesIn(dir)).containsExactly("notes.txt");
  }

  /** A store from a newer KVLog (copied here, so no lock file yet): refused before any is made. */
  @Test
  void newerSchemaStore_isRefused_byteIdentical_noLockFileLeft() throws Exception {
    Path made = Files.createDirectories(dir.resolve("made")).resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(made)) {
      store.set("k", "v");
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + made);
        Statement s = c.createStatement()) {
      s.executeUpdate("INSERT INTO kvlog_schema(version, description) VALUES (99, 'future')");
    }
    Path db = Files.copy(made, dir.resolve("kv.db"));
    byte[] before = Files.readAllBytes(db);
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(SchemaException.class)
        .hasMessageContaining("has schema version 99");
    assertUnchanged(db, before);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("made", "kv.db");
  }

  /**
   * KVLog never opens the database file with Java I/O: closing such a descriptor would drop the
   * POSIX locks of every SQLite connection in this process on the file. Here a reader in this JVM
   * holds a read transaction (SHARED lock, rollback mode) on a foreign file that KVLog refuses;
   * another process must still be unable to commit a write under that reader.
   */
  @Test
  void refusedOpen_keepsTheLocksOfOtherSqliteConnectionsInThisJvm() throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/sqlite3")), "the sqlite3 shell is not installed");
    Path db = dir.resolve("theirs.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE t(x)");
      s.execute("INSERT INTO t VALUES (1)");
    }
    try (Connection reader = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      reader.setAutoCommit(false);
      try (Statement s = reader.createStatement();
          java.sql.ResultSet rs = s.executeQuery("SELECT x FROM t")) {
        assertThat(rs.next()).isTrue(); // the read transaction holds a SHARED lock now
        assertThatThrownBy(() -> KVLog.load(db).close())
            .isInstanceOf(StoreOpenException.class)
            .hasMessageContaining("not a KVLog store");
        Process writer =
            new ProcessBuilder("/usr/bin/sqlite3", db.toString(), "INSERT INTO t VALUES (2);")
                .redirectErrorStream(true)
                .start();
        String out =
            new String(writer.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(writer.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(out)
            .as("another process committed under this JVM's reader: its lock was dropped")
            .contains("database is locked");
      }
    }
  }

  /** A store owned by another process: refused without touching the db, its -wal or its -lock. */
  @Test
  void lockedStore_isRefused_withoutChangingAnyOfItsFiles() throws Exception {
    Path db = dir.resolve("kv.db");
    Process owner = ChildJvm.start(HoldStoreChild.class, db.toString());
    try {
      assertThat(firstLine(owner)).isEqualTo("OPEN");
      Map<String, byte[]> before = contentsOf(dir);
      assertThatThrownBy(() -> KVLog.load(db).close()).isInstanceOf(StoreLockedException.class);
      Map<String, byte[]> after = contentsOf(dir);
      assertThat(after.keySet()).isEqualTo(before.keySet());
      for (String name : before.keySet()) {
        if (!name.endsWith("-shm")) { // the owner's shared-memory index, not a file we may judge
          assertThat(java.util.Arrays.mismatch(after.get(name), before.get(name)))
              .as("%s changed", name)
              .isEqualTo(-1);
        }
      }
    } finally {
      stop(owner);
    }
  }

  /** The pre-open check names the file as a SQLite URI: %, ? and # must not change which file. */
  @Test
  void pathWithUriCharacters_isCheckedAndReopened() throws Exception {
    Path db = Files.createDirectories(dir.resolve("odd?name#x%41")).resolve("k?v#%41.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("k")).contains("v");
    }
    assertThat(namesIn(db.getParent())).containsExactlyInAnyOrder("k?v#%41.db", "k?v#%41.db-lock");
  }

  // ---- second review of issue 10 ----------------------------------------------------------

  /**
   * A bind mount of the single store file: SQLite names -wal, -shm and -lock after the path, so
   * each path got its own and two processes owned one store (an acknowledged write was lost).
   */
  @Test
  void bindMountedStoreFile_isRefused_soTwoProcessesCannotBothOwnIt() throws Exception {
    assumeTrue("root".equals(System.getProperty("user.name")), "mount --bind needs root");
    Path realDir = Files.createDirectories(dir.resolve("real"));
    Path otherDir = Files.createDirectories(dir.resolve("other"));
    Path real = realDir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(real)) {
      store.set("k", "orig");
    }
    Path other = Files.createFile(otherDir.resolve("kv.db"));
    Process m =
        new ProcessBuilder("mount", "--bind", real.toString(), other.toString())
            .redirectErrorStream(true)
            .start();
    String mountOut = new String(m.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assumeTrue(m.waitFor() == 0, "mount --bind failed: " + mountOut);
    try {
      Process owner = ChildJvm.start(HoldStoreChild.class, real.toString());
      try {
        assertThat(firstLine(owner)).isEqualTo("OPEN");
        assertThatThrownBy(() -> KVLog.load(other).close())
            .isInstanceOf(StoreOpenException.class)
            .hasMessageContaining(other + " is a mount point of its own")
            .hasMessageContaining("Mount the directory that holds the store instead");
        assertThat(namesIn(otherDir)).containsExactly("kv.db");
      } finally {
        stop(owner);
      }
      Process viaMount = ChildJvm.start(HoldStoreChild.class, other.toString());
      String said = firstLine(viaMount);
      stop(viaMount);
      assertThat(said).startsWith("REFUSED ").contains("mount point");
    } finally {
      new ProcessBuilder("umount", "-l", other.toString()).start().waitFor();
    }
  }

  @Test
  void lockFileThatIsASymlink_isNeverFollowed_andTheOpenIsRefused() throws Exception {
    Path victim = Files.createDirectories(dir.resolve("elsewhere")).resolve("victim.txt");
    Files.writeString(victim, "IMPORTANT DATA, NOT KVLOG'S\n");
    Path storeDir = Files.createDirectories(dir.resolve("store"));
    Path lock = Files.createSymbolicLink(storeDir.resolve("kv.db-lock"), victim);
    assertThatThrownBy(() -> KVLog.load(storeDir.resolve("kv.db")).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("the lock file " + lock)
        .hasMessageContaining("is a symbolic link")
        .hasMessageContaining("Remove " + lock);
    assertThat(Files.readString(victim)).isEqualTo("IMPORTANT DATA, NOT KVLOG'S\n");
    assertThat(namesIn(storeDir)).containsExactly("kv.db-lock");

    // A dangling one: the same refusal (it was a raw NullPointerException), nothing created.
    Files.delete(lock);
    Files.createSymbolicLink(lock, dir.resolve("nowhere/x"));
    assertThatThrownBy(() -> KVLog.load(storeDir.resolve("kv.db")).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("is a symbolic link");
    assertThat(dir.resolve("nowhere")).doesNotExist();
    assertThat(namesIn(storeDir)).containsExactly("kv.db-lock");
  }

  @Test
  void lockFileThatIsADirectoryOrFifo_isRefused_sayingWhatItIs() throws Exception {
    Path db = dir.resolve("kv.db");
    Path lock = Files.createDirectory(dir.resolve("kv.db-lock"));
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining(lock + " of " + db + " is a directory")
        .hasMessageNotContaining("write access");
    assertThat(namesIn(dir)).containsExactly("kv.db-lock");
    Files.delete(lock);
    Process fifo = new ProcessBuilder("mkfifo", lock.toString()).start();
    assumeTrue(fifo.waitFor() == 0, "mkfifo is not available");
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("is not a regular file");
    assertThat(namesIn(dir)).containsExactly("kv.db-lock");
  }

  /** The lock file cannot be created (here: /proc takes no new files): a clear error, no NPE. */
  @Test
  void lockFileThatCannotBeCreated_givesAClearStoreOpenException() {
    assumeTrue(Files.isDirectory(Path.of("/proc/self")), "needs Linux /proc");
    assertThatThrownBy(() -> KVLog.load(Path.of("/proc/kv.db")).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("/proc/kv.db")
        .hasMessageContaining("choose");
  }

  /** {@code A/link/../kv.db} is, to the OS, the kv.db beside the link's target (B), not A/kv.db. */
  @Test
  void dotDotAfterASymlinkedDirectory_meansWhatTheOsMeans_forOpenBackupAndCheck() throws Exception {
    Path a = Files.createDirectories(dir.resolve("A"));
    Path b = Files.createDirectories(dir.resolve("B"));
    Files.createDirectories(b.resolve("sub"));
    Files.createSymbolicLink(a.resolve("link"), b.resolve("sub"));
    try (KVLog<String, String> store = KVLog.load(b.resolve("kv.db"))) {
      store.set("k", "precious");
    }
    Path viaLink = a.resolve("link/../kv.db");
    try (KVLog<String, String> store = KVLog.load(viaLink)) {
      assertThat(store.get("k")).contains("precious");
      store.backup(a.resolve("link/../copy.db"));
    }
    assertThat(KVLog.check(viaLink)).isEmpty();
    assertThat(b.resolve("copy.db")).exists();
    assertThat(namesIn(a)).containsExactly("link");
  }

  /** A WAL-mode file whose -wal was copied without its -shm: the check must not create one. */
  @Test
  void foreignWalDatabaseWithoutShm_isRefused_andCheckedWithoutLeavingAnyFile() throws Exception {
    Path x = dir.resolve("x.db");
    Path y = dir.resolve("y.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + x);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("PRAGMA wal_autocheckpoint=0");
      s.execute("CREATE TABLE t(a)");
      s.execute("INSERT INTO t VALUES (1)");
      Files.copy(x, y);
      Files.copy(dir.resolve("x.db-wal"), dir.resolve("y.db-wal"));
    }
    for (String name : namesIn(dir)) {
      if (name.startsWith("x.db")) {
        Files.delete(dir.resolve(name));
      }
    }
    byte[] db = Files.readAllBytes(y);
    byte[] wal = Files.readAllBytes(dir.resolve("y.db-wal"));
    assertThatThrownBy(() -> KVLog.load(y).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("not a KVLog store")
        .hasMessageContaining("tables=[t]"); // the table is only in the -wal: it was read
    assertUnchanged(y, db);
    assertUnchanged(dir.resolve("y.db-wal"), wal);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("y.db", "y.db-wal");
    assertThat(KVLog.check(y)).isEmpty();
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("y.db", "y.db-wal");
  }

  /** The same for a newer-schema store whose newer schema is only in a -wal without its -shm. */
  @Test
  void newerSchemaStoreWithAWalButNoShm_isRefused_noShmLeft() throws Exception {
    Path made = Files.createDirectories(dir.resolve("made")).resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(made)) {
      store.set("k", "v");
    }
    Path db = dir.resolve("kv.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + made);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA wal_autocheckpoint=0");
      s.executeUpdate("INSERT INTO kvlog_schema(version, description) VALUES (99, 'future')");
      Files.copy(made, db);
      Files.copy(made.resolveSibling("kv.db-wal"), dir.resolve("kv.db-wal"));
    }
    byte[] before = Files.readAllBytes(db);
    byte[] wal = Files.readAllBytes(dir.resolve("kv.db-wal"));
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(SchemaException.class)
        .hasMessageContaining("has schema version 99");
    assertUnchanged(db, before);
    assertUnchanged(dir.resolve("kv.db-wal"), wal);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("made", "kv.db", "kv.db-wal");
  }

  @Test
  void check_ofAClosedStore_createsNoSidecars() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("kv.db", "kv.db-lock");
    assertThat(KVLog.check(db)).isEmpty();
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("kv.db", "kv.db-lock");
  }

  @Test
  void check_ofAClosedWalStore_inAReadOnlyDirectory_works() throws Exception {
    Path data = Files.createDirectories(dir.resolve("data"));
    try (KVLog<String, String> store = KVLog.load(data.resolve("kv.db"))) {
      store.set("k", "v");
    }
    Path ro;
    boolean mounted = false;
    if ("root".equals(System.getProperty("user.name"))) { // root ignores directory permissions
      ro = Files.createDirectories(dir.resolve("ro"));
      Process m =
          new ProcessBuilder("mount", "--bind", "-o", "ro", data.toString(), ro.toString())
              .redirectErrorStream(true)
              .start();
      String out = new String(m.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assumeTrue(m.waitFor() == 0, "mount --bind -o ro failed: " + out);
      mounted = true;
    } else {
      ro = data;
      assumeTrue(data.toFile().setWritable(false), "cannot make the directory read-only");
    }
    try {
      assertThat(Files.isWritable(ro.resolve("kv.db"))).as("read-only").isFalse();
      assertThat(KVLog.check(ro.resolve("kv.db"))).isEmpty();
    } finally {
      if (mounted) {
        new ProcessBuilder("umount", "-l", ro.toString()).start().waitFor();
      } else {
        data.toFile().setWritable(true);
      }
    }
    assertThat(namesIn(data)).containsExactlyInAnyOrder("kv.db", "kv.db-lock");
  }

  /** A restored backup (rollback mode) with a stray -shm or -wal that is not a regular file. */
  @Test
  void straySidecarThatIsASymlinkOrDirectory_isRefused_fileUnchanged_nothingLeft()
      throws Exception {
    Path db = rollbackModeStore();
    byte[] before = Files.readAllBytes(db);
    Path victim = Files.writeString(dir.resolve("victim"), "x");
    Path shm = Files.createSymbolicLink(dir.resolve("kv.db-shm"), victim);
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining(shm + " is a symbolic link")
        .hasMessageContaining("Remove " + shm);
    assertUnchanged(db, before);
    assertThat(Files.readString(victim)).isEqualTo("x");
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("kv.db", "kv.db-shm", "victim");

    Files.delete(shm);
    Path wal = Files.createDirectory(dir.resolve("kv.db-wal"));
    assertThatThrownBy(() -> KVLog.load(db).close())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining(wal + " is a directory");
    assertUnchanged(db, before);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("kv.db", "kv.db-wal", "victim");
  }

  /**
   * Refused by SQLite's own lock (another connection holds BEGIN EXCLUSIVE on a rollback-mode
   * store, so the pool's switch to WAL gets SQLITE_BUSY) after the lock file was created: the lock
   * file is removed again, the file unchanged.
   */
  @Test
  void refusalBySqlitesOwnLock_leavesNoLockFile_andTheFileUnchanged() throws Exception {
    Path db = rollbackModeStore();
    byte[] before = Files.readAllBytes(db);
    try (Connection holder = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = holder.createStatement()) {
      s.execute("BEGIN EXCLUSIVE");
      try {
        assertThatThrownBy(
                () ->
                    KVLog.builder(db).busyTimeout(java.time.Duration.ofMillis(200)).open().close())
            .isInstanceOf(StoreOpenException.class)
            .hasMessageContaining(db + " is locked by another connection")
            .hasMessageContaining("close it and retry");
        assertThat(namesIn(dir)).containsExactly("kv.db");
      } finally {
        s.execute("ROLLBACK");
      }
    }
    assertUnchanged(db, before);
    assertThat(namesIn(dir)).containsExactly("kv.db");
  }

  /** A KVLog store switched to rollback mode (as a restored backup is), without its lock file. */
  private Path rollbackModeStore() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=DELETE");
    }
    Files.delete(dir.resolve("kv.db-lock"));
    assertThat(namesIn(dir)).containsExactly("kv.db");
    return db;
  }

  // ---- helpers --------------------------------------------------------------------------------

  static List<String> namesIn(Path dir) throws Exception {
    List<String> names = new ArrayList<>();
    try (var files = Files.list(dir)) {
      files.forEach(p -> names.add(p.getFileName().toString()));
    }
    return names;
  }

  static Map<String, byte[]> contentsOf(Path dir) throws Exception {
    Map<String, byte[]> out = new TreeMap<>();
    for (String name : namesIn(dir)) {
      out.put(name, Files.readAllBytes(dir.resolve(name)));
    }
    return out;
  }

  /** Compares bytes without printing megabytes: names the size and the first differing offset. */
  static void assertUnchanged(Path file, byte[] expected) throws Exception {
    byte[] actual = Files.readAllBytes(file);
    int diff = java.util.Arrays.mismatch(actual, expected);
    assertThat(diff)
        .as(
            "%s changed: %d bytes, was %d; first difference at offset %d",
            file, actual.length, expected.length, diff)
        .isEqualTo(-1);
  }

  static String firstLine(Process p) throws Exception {
    return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))
        .readLine();
  }

  static void stop(Process p) throws Exception {
    p.getOutputStream().close(); // lets a holding child close its store and exit
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("child " + p.pid() + " did not exit");
    }
  }
}
