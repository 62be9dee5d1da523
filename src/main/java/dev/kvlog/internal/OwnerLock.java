package dev.kvlog.internal;

import dev.kvlog.StoreLockedException;
import dev.kvlog.StoreOpenException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Makes one process, and one store object within it, the owner of a store: an OS lock ({@code
 * fcntl}) on {@code <db>-lock} plus a JVM-wide registry.
 *
 * <p>The lock is on a separate file, never on the database: closing any descriptor of a file drops
 * every POSIX lock this process holds on it, so touching the database file with Java I/O would
 * silently drop SQLite's own locks. For the same reason the registry is consulted <em>before</em>
 * opening the lock file: a second store in this JVM must not open and close a channel on a lock
 * file the first one holds. The OS releases the lock when the owner dies, so a stale lock file left
 * by a crash never blocks a reopen. The file is left in place on close: deleting it would race with
 * a process that has just opened it.
 */
public final class OwnerLock implements AutoCloseable {
  private static final Set<Path> HELD_IN_THIS_JVM = ConcurrentHashMap.newKeySet();

  private final Path store;
  private final Path registryKey;
  private final FileChannel channel;
  private final FileLock lock;

  private OwnerLock(Path store, Path registryKey, FileChannel channel, FileLock lock) {
    this.store = store;
    this.registryKey = registryKey;
    this.channel = channel;
    this.lock = lock;
  }

  /** The lock file of {@code database}. */
  public static Path lockFile(Path database) {
    return database.resolveSibling(database.getFileName() + "-lock");
  }

  /**
   * Takes ownership of {@code database} (an absolute path whose directory exists).
   *
   * @throws StoreLockedException if another store object or process owns it
   * @throws StoreOpenException if the lock file cannot be created or locked
   */
  public static OwnerLock acquire(Path database) {
    Path lockFile = lockFile(database);
    Path key;
    try {
      key = database.getParent().toRealPath().resolve(lockFile.getFileName());
    } catch (IOException e) {
      throw new StoreOpenException("cannot resolve the directory of " + database + ": " + e, e);
    }
    if (!HELD_IN_THIS_JVM.add(key)) {
      throw new StoreLockedException(
          database
              + " is already open in this JVM; share that KVLog instance (it is thread-safe)"
              + " instead of opening the store twice");
    }
    FileChannel channel = null;
    try {
      boolean created = !Files.exists(lockFile);
      channel =
          FileChannel.open(
              lockFile,
              Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE),
              StoreFiles.ownerOnly());
      FileLock lock = channel.tryLock();
      if (lock == null) {
        String pid = readOwner(channel);
        throw new StoreLockedException(
            database
                + " is open for writing by another process ("
                + pid
                + ", per "
                + lockFile
                + "); close the store there first. Read-only inspection with sqlite3 is fine.");
      }
      channel.truncate(0);
      channel.write(
          ByteBuffer.wrap(
              ("pid " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)),
          0);
      channel.force(true);
      if (created) {
        StoreFiles.syncDirectory(lockFile.getParent());
      }
      return new OwnerLock(database, key, channel, lock);
    } catch (IOException e) {
      closeQuietly(channel);
      HELD_IN_THIS_JVM.remove(key);
      throw new StoreOpenException(
          "cannot create or lock "
              + lockFile
              + " ("
              + e
              + "); KVLog needs write access to the"
              + " directory of the store",
          e);
    } catch (RuntimeException e) {
      closeQuietly(channel);
      HELD_IN_THIS_JVM.remove(key);
      throw e;
    }
  }

  private static String readOwner(FileChannel channel) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(64);
    channel.read(buffer, 0);
    String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).trim();
    return text.isEmpty() ? "pid unknown" : text;
  }

  private static void closeQuietly(FileChannel channel) {
    if (channel != null) {
      try {
        channel.close();
      } catch (IOException ignored) {
        // Nothing was locked through this channel; the open failure is what the caller needs.
      }
    }
  }

  /** Releases the lock; the file stays. */
  @Override
  public void close() {
    try {
      lock.release();
      channel.close();
    } catch (IOException e) {
      throw new dev.kvlog.KVLogException("cannot release the owner lock of " + store + ": " + e, e);
    } finally {
      HELD_IN_THIS_JVM.remove(registryKey);
    }
  }
}
