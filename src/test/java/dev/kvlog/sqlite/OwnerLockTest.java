package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The lock-file protocol: a lock file is deleted only by its holder, so an opener must check, after
 * locking, that the path still names the file it locked. And the mountinfo parser behind the
 * refusal of single-file mounts.
 */
class OwnerLockTest {
  @TempDir Path dir;

  @AfterEach
  void restoreSeam() {
    OwnerLock.beforeLock = () -> {};
  }

  /**
   * What a refused opener does (it holds the lock, deletes the file, releases) happening between
   * this opener's open and lock: without the check it would hold a lock on a file with no name,
   * which excludes no one.
   */
  @Test
  void lock_fileDeletedBetweenOpenAndLock_retriesAndLocksTheFileThePathNames() throws Exception {
    assumeTrue(Files.isReadable(Path.of("/proc/locks")), "needs Linux /proc/locks");
    Path db = dir.resolve("kv.db");
    Path lockFile = OwnerLock.lockFile(db);
    AtomicInteger runs = new AtomicInteger();
    OwnerLock.beforeLock =
        () -> {
          if (runs.getAndIncrement() == 0) {
            try {
              Files.delete(lockFile);
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          }
        };
    try (OwnerLock lock = OwnerLock.reserve(StoreFileSet.of(db))) {
      lock.lock();
      assertThat(lockFile).exists();
      long inode = ((Number) Files.getAttribute(lockFile, "unix:ino")).longValue();
      assertThat(inodesLockedByThisProcess())
          .as("the inode the path names is locked by this process")
          .contains(inode);
      assertThat(runs.get()).as("attempts").isEqualTo(2);
    }
  }

  @Test
  void closeRefused_deletesALockFileItCreated_andOnlyThat() throws Exception {
    Path db = dir.resolve("kv.db");
    Path lockFile = OwnerLock.lockFile(db);
    OwnerLock created = OwnerLock.reserve(StoreFileSet.of(db));
    created.lock();
    assertThat(lockFile).exists();
    created.closeRefused();
    assertThat(lockFile).doesNotExist();

    Files.writeString(lockFile, "pid 1\n"); // a previous owner's
    OwnerLock existing = OwnerLock.reserve(StoreFileSet.of(db));
    existing.lock();
    existing.closeRefused();
    assertThat(lockFile).exists();
  }

  @Test
  void mountPoint_decodesTheKernelsOctalEscapes_andUtf8() {
    assertThat(
            MountPoints.mountPoint(
                "36 35 98:0 /mnt1 /mnt/a\\040b\\011c\\134d rw,noatime master:1 - ext3 /dev/root rw"))
        .isEqualTo("/mnt/a b\tc\\d");
    String utf8AsBytes =
        new String("/daten/größe".getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
    assertThat(MountPoints.mountPoint("1 2 0:1 / " + utf8AsBytes + " rw - tmpfs x rw"))
        .isEqualTo("/daten/größe");
    assertThat(MountPoints.mountPoint("garbage")).isNull();
  }

  /** Inode numbers of the POSIX locks this process holds, from /proc/locks. */
  private static List<Long> inodesLockedByThisProcess() throws IOException {
    List<Long> out = new ArrayList<>();
    String pid = Long.toString(ProcessHandle.current().pid());
    for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
      String[] f = line.trim().split("\\s+");
      // "1: POSIX  ADVISORY  WRITE 1234 fd:00:2154517 0 EOF"
      if (f.length >= 6 && f[1].equals("POSIX") && f[4].equals(pid)) {
        String[] device = f[5].split(":");
        out.add(Long.parseLong(device[device.length - 1]));
      }
    }
    return out;
  }
}
