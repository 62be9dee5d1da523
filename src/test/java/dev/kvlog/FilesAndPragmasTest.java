package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FilesAndPragmasTest {
  @TempDir Path dir;

  @Test
  void everyFileTheStoreCreates_isOwnerOnly() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
      for (String name : new String[] {"kv.db", "kv.db-wal", "kv.db-shm", "kv.db-lock"}) {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir.resolve(name));
        assertThat(PosixFilePermissions.toString(perms)).as(name).isEqualTo("rw-------");
      }
    }
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .as("nothing but the documented files")
          .isSubsetOf("kv.db", "kv.db-wal", "kv.db-shm", "kv.db-lock");
    }
  }

  @Test
  void weakerSynchronousSetting_isDetectedAndRefused() {
    Path db = dir.resolve("kv.db");
    assertThatThrownBy(() -> KVLog.builder(db).pragma("synchronous", "NORMAL").open())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("PRAGMA synchronous is 1 on pooled connection 1 of 4")
        .hasMessageContaining("expected 2 (FULL)");
    // The refused open released the lock and the pool.
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
  }

  @Test
  void nonWalJournal_isDetectedAndRefused() {
    Path db = dir.resolve("kv.db");
    assertThatThrownBy(() -> KVLog.builder(db).pragma("journal_mode", "DELETE").open())
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining("PRAGMA journal_mode is delete on pooled connection 1 of 4");
  }

  @Test
  void busyTimeout_outOfRange_isRejected() {
    assertThatThrownBy(
            () -> KVLog.builder(dir.resolve("kv.db")).busyTimeout(java.time.Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("busyTimeout must be between 0 and 1 hour, was PT-1S");
  }
}
