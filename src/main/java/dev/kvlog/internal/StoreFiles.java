package dev.kvlog.internal;

import dev.kvlog.StoreOpenException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;

/**
 * The checks and file-system steps done before SQLite sees a path: refuse what is not a database
 * file, and create a new database owner-only (SQLite gives {@code -wal} and {@code -shm} the
 * permissions of the database file). Runs while holding the {@link OwnerLock} and before any
 * connection is open, which is the only time KVLog reads the database file with Java I/O.
 */
public final class StoreFiles {
  private static final byte[] SQLITE_HEADER =
      "SQLite format 3\0".getBytes(StandardCharsets.US_ASCII);
  private static final boolean POSIX =
      FileSystems.getDefault().supportedFileAttributeViews().contains("posix");

  private StoreFiles() {}

  /**
   * Returns the absolute form of {@code file} after checking that its directory exists (creating it
   * if needed) and is writable.
   */
  public static Path checkPath(Path file) {
    Path path = file.toAbsolutePath().normalize();
    if (Files.isDirectory(path)) {
      throw new StoreOpenException(
          path
              + " is a directory; give KVLog the path of a database file, such as "
              + path.resolve("kv.db"));
    }
    Path dir = path.getParent();
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new StoreOpenException("cannot create directory " + dir + " for the store: " + e, e);
    }
    if (!Files.isWritable(dir)) {
      throw new StoreOpenException(
          "directory "
              + dir
              + " is not writable; SQLite must create "
              + path.getFileName()
              + "-wal and -shm beside the database: grant write access or choose another path");
    }
    return path;
  }

  /**
   * Creates {@code database} empty and owner-only if it does not exist; otherwise checks that it is
   * a SQLite database. Never modifies an existing file.
   */
  public static void createOrCheck(Path database) {
    try {
      if (!Files.exists(database)) {
        Files.createFile(database, ownerOnly());
        syncDirectory(database.getParent());
        return;
      }
      if (!Files.isRegularFile(database)) {
        throw new StoreOpenException(database + " is not a regular file; refusing to open it");
      }
      if (!Files.isReadable(database) || !Files.isWritable(database)) {
        throw new StoreOpenException(
            database + " is not readable and writable by this process; fix its permissions");
      }
      long size = Files.size(database);
      if (size > 0 && !hasSqliteHeader(database, size)) {
        throw new StoreOpenException(
            database
                + " is not a KVLog store (file is not a SQLite database); refusing to open it");
      }
    } catch (IOException e) {
      throw new StoreOpenException("cannot create or read " + database + ": " + e, e);
    }
  }

  private static boolean hasSqliteHeader(Path database, long size) throws IOException {
    if (size < 100) { // smaller than SQLite's own file header
      return false;
    }
    try (InputStream in = Files.newInputStream(database)) {
      return Arrays.equals(in.readNBytes(SQLITE_HEADER.length), SQLITE_HEADER);
    }
  }

  /** Which of the {@code -wal} and {@code -shm} files beside {@code database} exist now. */
  public static boolean[] sidecars(Path database) {
    return new boolean[] {
      Files.exists(sibling(database, "-wal")), Files.exists(sibling(database, "-shm"))
    };
  }

  /**
   * After a refused open, deletes the {@code -wal} and {@code -shm} files that SQLite created for
   * it (they did not exist in {@code before}) if they hold nothing, so a refused foreign file is
   * left as it was found.
   */
  public static void removeCreatedSidecars(Path database, boolean[] before) {
    Path wal = sibling(database, "-wal");
    try {
      // Only an empty WAL: one with frames might hold another process's commits.
      if (!before[0] && Files.exists(wal) && Files.size(wal) == 0) {
        Files.delete(wal);
      }
      // A connection in WAL mode always has a -wal file; with none left, no one uses the -shm.
      if (!before[1] && !Files.exists(wal)) {
        Files.deleteIfExists(sibling(database, "-shm"));
      }
    } catch (IOException e) {
      // best effort: the refusal being reported matters more
    }
  }

  private static Path sibling(Path database, String suffix) {
    return database.resolveSibling(database.getFileName() + suffix);
  }

  /** The file's identity (device and inode on Unix), or null if it does not exist. */
  public static Object fileKey(Path file) {
    try {
      return java.nio.file.Files.readAttributes(
              file, java.nio.file.attribute.BasicFileAttributes.class)
          .fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  /** rw------- where the file system knows POSIX permissions; nothing elsewhere. */
  public static FileAttribute<?>[] ownerOnly() {
    return POSIX
        ? new FileAttribute<?>[] {
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))
        }
        : new FileAttribute<?>[0];
  }

  /** Makes a file creation in {@code dir} durable (a no-op where directories cannot be opened). */
  public static void syncDirectory(Path dir) {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException e) {
      // Windows cannot open a directory; there, NTFS journals the directory entry itself.
    }
  }
}
