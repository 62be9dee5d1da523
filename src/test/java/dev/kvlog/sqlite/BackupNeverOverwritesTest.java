package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backup never overwrites a file, even one that appears at the target while the copy is being
 * written, and even on a file system without hard links. The race is injected through {@link
 * Backup}'s seams: a file created at the target after the existence check, just before the copy
 * gets its name.
 */
class BackupNeverOverwritesTest {
  @TempDir Path dir;

  private static final byte[] THEIRS = "someone else's file\n".getBytes(StandardCharsets.UTF_8);

  @AfterEach
  void restoreSeams() {
    Backup.linker = Files::createLink;
    Backup.beforePublish = () -> {};
  }

  private void createTargetDuringBackup(Path target) {
    Backup.beforePublish =
        () -> {
          try {
            Files.write(target, THEIRS);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        };
  }

  @Test
  void backup_targetCreatedMeanwhile_isNotOverwritten() throws Exception {
    Path target = dir.resolve("backups").resolve("copy.db");
    Files.createDirectories(target.getParent());
    createTargetDuringBackup(target);
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      store.set("k", "v");
      assertThatThrownBy(() -> store.backup(target))
          .isInstanceOf(KVLogException.class)
          .hasMessageContaining(target + " appeared while the backup was being written")
          .hasMessageContaining("never overwrites");
    }
    assertThat(Files.readAllBytes(target)).isEqualTo(THEIRS);
    assertThat(namesIn(target.getParent())).containsExactly("copy.db");
  }

  /**
   * Where links are unsupported (FAT, some FUSE and SMB mounts) the old rename fallback replaced.
   */
  @Test
  void backup_withoutHardLinks_targetCreatedMeanwhile_isNotOverwritten() throws Exception {
    Path target = dir.resolve("copy.db");
    Backup.linker =
        (link, existing) -> {
          throw new FileSystemException(
              link.toString(), existing.toString(), "Operation not permitted");
        };
    createTargetDuringBackup(target);
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      store.set("k", "v");
      assertThatThrownBy(() -> store.backup(target)).isInstanceOf(KVLogException.class);
    }
    assertThat(Files.readAllBytes(target)).as("the file that appeared is intact").isEqualTo(THEIRS);
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("copy.db", "kv.db", "kv.db-lock");
  }

  @Test
  void backup_withoutHardLinks_failsNamingTheCauseAndTheFix() throws Exception {
    Path target = dir.resolve("copy.db");
    Backup.linker =
        (link, existing) -> {
          throw new FileSystemException(
              link.toString(), existing.toString(), "Operation not permitted");
        };
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      assertThatThrownBy(() -> store.backup(target))
          .isInstanceOf(KVLogException.class)
          .hasMessageContaining("hard link")
          .hasMessageContaining("Operation not permitted")
          .hasMessageContaining("nothing was written to the target");
    }
    assertThat(target).doesNotExist();
    assertThat(namesIn(dir)).containsExactlyInAnyOrder("kv.db", "kv.db-lock");
  }

  static List<String> namesIn(Path dir) throws IOException {
    List<String> names = new ArrayList<>();
    try (var files = Files.list(dir)) {
      files.forEach(p -> names.add(p.getFileName().toString()));
    }
    return names;
  }

  @Test
  void backup_ontoADanglingSymlink_isRefused_sayingItIsALink() throws Exception {
    Path link = Files.createSymbolicLink(dir.resolve("copy.db"), dir.resolve("nowhere.db"));
    try (KVLog<String, String> store = KVLog.load(dir.resolve("kv.db"))) {
      store.set("k", "v");
      assertThatThrownBy(() -> store.backup(link))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(link + " is a symbolic link")
          .hasMessageContaining("which does not exist");
    }
    assertThat(Files.isSymbolicLink(link)).isTrue();
    assertThat(dir.resolve("nowhere.db")).doesNotExist();
  }
}
