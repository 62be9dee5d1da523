package dev.kvlog.internal;

import dev.kvlog.KVLogException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Online backup by {@code VACUUM INTO}: one read transaction on a pooled connection gives a
 * consistent snapshot while the writer goes on, and the output is a compact, self-contained
 * database. SQLite does not fsync that output, so we do, and make its appearance atomic.
 */
public final class Backup {
  private Backup() {}

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
    Path absolute = target.toAbsolutePath().normalize();
    Path dir = absolute.getParent();
    if (Files.exists(absolute)) {
      throw new IllegalArgumentException(
          "backup target "
              + absolute
              + " already exists; a backup never overwrites a file:"
              + " choose a new path or remove it first");
    }
    if (dir == null || !Files.isDirectory(dir)) {
      throw new IllegalArgumentException(
          "backup target directory " + dir + " does not exist; create it first");
    }
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
      try {
        // A link fails if the target appeared meanwhile, where a rename would replace it.
        Files.createLink(absolute, temporary);
        Files.delete(temporary);
      } catch (UnsupportedOperationException | IOException noLinks) {
        if (noLinks instanceof FileAlreadyExistsException) {
          throw noLinks;
        }
        Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE);
      }
      StoreFiles.syncDirectory(dir);
    } catch (SQLException | IOException e) {
      deleteQuietly(temporary);
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

  private static void deleteQuietly(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException ignored) {
      // the failure being reported matters more
    }
  }
}
