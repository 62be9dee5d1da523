package dev.kvlog.sqlite;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;
import org.sqlite.SQLiteOpenMode;

/**
 * A read-only connection to a database file that creates, deletes and changes nothing beside it: no
 * {@code -wal}, no {@code -shm}. Used by the checks that may refuse a file, and by {@code
 * KVLog.check(path)}. Not thread-safe (one checking thread uses it, then closes it).
 *
 * <p>Invariant: a check leaves the directory as it found it. Which connection gives that depends on
 * the files beside the database:
 *
 * <ul>
 *   <li>no {@code -wal}: no connection has the file open in WAL mode and the file alone holds every
 *       commit, so it is opened {@code immutable} (no locks, no sidecar files; this also works in a
 *       read-only directory);
 *   <li>{@code -wal} and {@code -shm}: a live or crashed WAL connection's; a plain read-only
 *       connection reads them and creates nothing;
 *   <li>{@code -wal} without {@code -shm} (files copied, or a store moved without its index): a
 *       read-only connection would create the {@code -shm}, and deleting it afterwards is unsafe
 *       (another process may have started using it). So the check reads a private copy instead: the
 *       database's pages through SQLite's backup API from an immutable connection (never Java I/O
 *       on the database file, whose closing would drop this process's SQLite locks on it), plus a
 *       byte copy of the {@code -wal} (SQLite holds no locks on that file), in a temporary
 *       directory deleted on {@link #close}. Costs one read of the file, only in this rare case.
 * </ul>
 *
 * <p>A connection that opens the file in the instant between the look and the read could make a
 * check see a stale or torn state: a wrong refusal or report, never a change.
 */
final class ReadOnlyView implements AutoCloseable {
  private final Connection connection;
  private final Path copyDir; // null unless reading a private copy

  private ReadOnlyView(Connection connection, Path copyDir) {
    this.connection = connection;
    this.copyDir = copyDir;
  }

  Connection connection() {
    return connection;
  }

  static ReadOnlyView of(Path path) throws SQLException {
    StoreFileSet files = StoreFileSet.of(path);
    boolean wal = Files.exists(files.wal());
    boolean shm = Files.exists(files.shm());
    if (!wal) {
      return new ReadOnlyView(immutable(path), null);
    }
    if (shm) {
      return new ReadOnlyView(readOnly(path), null);
    }
    Path dir;
    try {
      dir = Files.createTempDirectory("kvlog-check-"); // rwx------
    } catch (IOException e) {
      throw new SQLException("cannot create a temporary directory to check a copy: " + e, e);
    }
    try {
      Path copy = dir.resolve("copy.db");
      try (Connection source = immutable(path);
          Statement s = source.createStatement()) {
        s.executeUpdate("backup main to '" + copy.toString().replace("'", "''") + "'");
      }
      try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + copy);
          Statement s = c.createStatement()) {
        s.execute("PRAGMA journal_mode=WAL"); // the -wal is read only by a WAL-mode file
      }
      Files.copy(files.wal(), StoreFileSet.of(copy).wal());
      return new ReadOnlyView(readOnly(copy), dir);
    } catch (SQLException | IOException | RuntimeException e) {
      deleteTree(dir);
      if (e instanceof SQLException) {
        throw (SQLException) e;
      }
      if (e instanceof RuntimeException) {
        throw (RuntimeException) e;
      }
      throw new SQLException("cannot copy " + path + "-wal to check it: " + e, e);
    }
  }

  private static Connection immutable(Path path) throws SQLException {
    Properties properties = new Properties();
    properties.setProperty(
        "open_mode", Integer.toString(SQLiteOpenMode.READONLY.flag | SQLiteOpenMode.OPEN_URI.flag));
    return DriverManager.getConnection(
        "jdbc:sqlite:file:" + uriPath(path) + "?immutable=1", properties);
  }

  /** A connection outside the pool, read-only and without KVLog's pragmas: it changes nothing. */
  private static Connection readOnly(Path path) throws SQLException {
    Properties properties = new Properties();
    properties.setProperty("open_mode", Integer.toString(SQLiteOpenMode.READONLY.flag));
    return DriverManager.getConnection("jdbc:sqlite:" + path, properties);
  }

  /** {@code path} as the path of a SQLite URI filename: %, ? and # escaped. */
  private static String uriPath(Path path) {
    StringBuilder out = new StringBuilder();
    for (char ch : path.toString().toCharArray()) {
      switch (ch) {
        case '%' -> out.append("%25");
        case '?' -> out.append("%3f");
        case '#' -> out.append("%23");
        default -> out.append(ch);
      }
    }
    return out.toString();
  }

  @Override
  public void close() throws SQLException {
    try {
      connection.close();
    } finally {
      if (copyDir != null) {
        deleteTree(copyDir);
      }
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      List<Path> all = files.sorted(Comparator.reverseOrder()).toList();
      for (Path p : all) {
        Files.deleteIfExists(p);
      }
    } catch (IOException ignored) {
      // a temporary directory left behind holds only a copy; the check's answer matters more
    }
  }
}
