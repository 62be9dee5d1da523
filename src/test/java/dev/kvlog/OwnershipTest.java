package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One owner process at a time; dead owners never block; sqlite3 can always read. */
class OwnershipTest {
  @TempDir Path dir;

  @Test
  void secondProcess_isRefusedNamingThePathAndTheOwner() throws Exception {
    Path db = dir.resolve("kv.db");
    Process owner = ChildJvm.start(HoldStoreChild.class, db.toString());
    try {
      assertThat(firstLine(owner)).isEqualTo("OPEN");
      assertThatThrownBy(() -> KVLog.load(db))
          .isInstanceOf(StoreLockedException.class)
          .hasMessageContaining(db + " is open for writing by another process (pid " + owner.pid());

      // A third process is refused too, in its own words.
      Process second = ChildJvm.start(HoldStoreChild.class, db.toString());
      assertThat(firstLine(second))
          .startsWith("LOCKED " + db + " is open for writing by another process");
      assertThat(second.waitFor(30, TimeUnit.SECONDS)).isTrue();
    } finally {
      owner.getOutputStream().close(); // lets the owner close its store and exit
      assertThat(owner.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("held-by")).contains(Long.toString(owner.pid()));
    }
  }

  @Test
  void refusedSecondOpenInThisJvm_doesNotDropTheFirstOnesLock() throws Exception {
    // Closing any descriptor of a file drops all of a process's POSIX locks on it; a refused
    // second open must not have opened (and closed) the lock file.
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThatThrownBy(() -> KVLog.load(db)).isInstanceOf(StoreLockedException.class);
      assertThatThrownBy(() -> KVLog.load(dir.resolve("x/../kv.db")))
          .isInstanceOf(StoreLockedException.class);
      Process other = ChildJvm.start(HoldStoreChild.class, db.toString());
      assertThat(firstLine(other)).startsWith("LOCKED ");
      assertThat(other.waitFor(30, TimeUnit.SECONDS)).isTrue();
      store.set("k", "v");
    }
  }

  @Test
  void killedOwner_neverBlocksTheNextOpen() throws Exception {
    Path db = dir.resolve("kv.db");
    Process owner = ChildJvm.start(HoldStoreChild.class, db.toString());
    assertThat(firstLine(owner)).isEqualTo("OPEN");
    owner.destroyForcibly();
    assertThat(owner.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(dir.resolve("kv.db-lock")).as("the stale lock file is still there").exists();
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("held-by")).contains(Long.toString(owner.pid()));
    }
  }

  @Test
  void sqlite3Shell_canReadWhileTheStoreIsOpen() throws Exception {
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/sqlite3")), "the sqlite3 shell is not installed");
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("greeting", "hello");
      store.set("other", "x");
      assertThat(sqlite3(db, "SELECT value FROM kv WHERE key = 'greeting';")).isEqualTo("hello");
      store.set("greeting", "hello again");
      assertThat(sqlite3(db, "SELECT value FROM kv WHERE key = 'greeting';"))
          .isEqualTo("hello again");
      assertThat(store.get("other")).contains("x"); // still the owner, still writable
      store.delete("other");
      assertThat(sqlite3(db, "SELECT count(*) FROM kv;")).isEqualTo("1");
    }
  }

  static String sqlite3(Path db, String sql) throws Exception {
    Process p =
        new ProcessBuilder("/usr/bin/sqlite3", "-readonly", db.toString(), sql)
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  private static String firstLine(Process p) throws Exception {
    return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))
        .readLine();
  }
}
