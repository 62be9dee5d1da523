package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import dev.kvlog.StoreOpenException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Online backup by {@code VACUUM INTO}: one read transaction on a pooled connection gives a
 * consistent snapshot while the writer goes on, and the output is a compact, self-contained
 * database. SQLite does not fsync that output, so we do, and make its appearance atomic.
 *
 * <p>Invariant: a backup never replaces a file. The copy is written under a hidden temporary name
 * and gets the target's name by a hard link, which fails if the name exists, however late it
 * appeared; no rename is used, since a rename replaces. Thread-safe: backups may run at once, each
 * with its own temporary file.
 */
public final class Backup {
  private Backup() {}

  /** Gives {@code existing} the second name {@code link}; fails if {@code link} exists. */
  interface Linker {
    void link(Path link, Path existing) throws IOException;
  }

  /**
   * Test seam: how the finished copy gets its name (tests simulate a file system without links).
   */
  static volatile Linker linker = Files::createLink;

  /** Test seam: runs after the copy is durable and before it gets its name. */
  static volatile Runnable beforePublish = () -> {};

  /** Writes a durable, consistent copy of the store at {@code source} to {@code target}. */
  public static void write(Database database, Path source, Path target) {
    write(database::connection, source, target);
  }

  /** Where a backup gets the connection it reads from (and closes). */
  @FunctionalInterface
  public interface ConnectionSource {
    Connection get() throws SQLException;
  }

  /** As above, reading through a connection from {@code connections} (a read-only one will do). */
  public static void write(ConnectionSource connections, Path source, Path target) {
    refuseExisting(target.toAbsolutePath());
    Path absolute; // physical: "link/../copy.db" lands beside the link's target, as the OS says
    try {
      absolute = StoreFiles.newFile(target);
    } catch (StoreOpenException | IllegalArgumentException e) {
      throw new IllegalArgumentException("backup target " + e.getMessage(), e);
    }
    refuseExisting(absolute);
    Path dir = absolute.getParent();
    Path temporary =
        dir.resolve(
            "."
                + absolute.getFileName()
                + ".tmp-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    try {
      // Created empty and owner-only first: VACUUM INTO accepts an empty file and keeps its mode.
      Files.createFile(temporary, StoreFiles.ownerOnly());
      try (Connection c = connections.get();
          PreparedStatement vacuum = c.prepareStatement("VACUUM INTO ?")) {
        vacuum.setString(1, temporary.toString());
        vacuum.execute();
      }
      try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
        out.force(true);
      }
      beforePublish.run();
      publish(temporary, absolute);
      StoreFiles.syncDirectory(dir);
    } catch (SQLException | IOException | RuntimeException e) {
      deleteQuietly(temporary);
      if (e instanceof RuntimeException) {
        throw (RuntimeException) e;
      }
      String reason = e instanceof SQLException ? e.getMessage() : e.toString();
      throw new KVLogException(
          "backup of "
              + source
              + " to "
              + absolute
              + " failed: "
              + reason
              + "; nothing was written to the target",
          e);
    }
  }

  /** Refuses a target name that exists, even as a symbolic link (dangling or not). */
  private static void refuseExisting(Path target) {
    if (Files.isSymbolicLink(target)) {
      String to;
      try {
        to = Files.readSymbolicLink(target).toString();
      } catch (IOException e) {
        to = "?";
      }
      throw new IllegalArgumentException(
          "backup target "
              + target
              + " is a symbolic link (to "
              + to
              + (Files.exists(target) ? "" : ", which does not exist")
              + "); a backup never writes through a link or replaces one: give a new path, such as"
              + " the link's target itself");
    }
    if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
      throw new IllegalArgumentException(
          "backup target "
              + target
              + " already exists; a backup never overwrites a file:"
              + " choose a new path or remove it first");
    }
  }

  /**
   * Gives the finished copy its name without ever replacing a file: a hard link fails if the name
   * exists (a rename would silently replace a file created there since the check above). Where the
   * file system has no hard links the backup fails: Java offers no rename that refuses to replace.
   */
  private static void publish(Path temporary, Path target) throws IOException {
    try {
      linker.link(target, temporary);
    } catch (FileAlreadyExistsException e) {
      throw new KVLogException(
          "backup target "
              + target
              + " appeared while the backup was being written; a backup never overwrites a file:"
              + " choose a new path; nothing was written to the target",
          e);
    } catch (UnsupportedOperationException | IOException e) {
      throw new KVLogException(
          "backup to "
              + target
              + " failed: the file system of "
              + target.getParent()
              + " refused a hard link ("
              + e
              + "), which a backup needs to appear complete without ever replacing a file; back up"
              + " to a directory on a local file system such as ext4, xfs, btrfs or tmpfs;"
              + " nothing was written to the target",
          e);
    } finally {
      deleteQuietly(temporary); // after a link, only the second name goes; the copy stays
    }
  }

  private static void deleteQuietly(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException ignored) {
      // the failure being reported matters more
    }
  }
}
