package dev.kvlog.sqlite;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import dev.kvlog.SchemaException;
import dev.kvlog.StoreClosedException;
import dev.kvlog.StoreOpenException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.function.BiConsumer;
import org.sqlite.SQLiteErrorCode;
import org.sqlite.SQLiteException;
import org.sqlite.SQLiteOpenMode;

/**
 * Read-only access to a KVLog store file that another process may own and be writing to: for tools
 * (the {@code kvlog} command line, cron backups, inspection) that must never wait for, or get in
 * the way of, the application that owns the store.
 *
 * <p><b>What it does not do.</b> It never takes the owner lock, never creates a store or a
 * directory, loads no cache, and opens one SQLite connection with {@code SQLITE_OPEN_READONLY}, so
 * nothing it does can change the database file. SQLite's WAL mode lets it read beside the owner's
 * writer; each call is one read transaction and sees only committed data (the last commit before it
 * began). {@link #get} is one indexed {@code SELECT}; {@link #forEach} streams rows from one
 * statement instead of building a list.
 *
 * <p><b>Files beside the database.</b> A WAL-mode reader needs the {@code -shm} index. While the
 * owner runs it exists; after the owner closed cleanly (which removes {@code -wal} and {@code
 * -shm}) SQLite creates both, empty, for this connection and cannot remove them when it closes,
 * since it may not write. They hold no data, and the next owner uses and removes them. In a
 * directory this process cannot write, such a store cannot be read in place: the error says so.
 *
 * <p>Thread-safe: calls are serialized on the one connection.
 */
public final class KVLogReader implements AutoCloseable {
  private final Path path;
  private final Connection connection; // guarded by this
  private final int schemaVersion;
  private boolean closed; // guarded by this

  private KVLogReader(Path path, Connection connection, int schemaVersion) {
    this.path = path;
    this.connection = connection;
    this.schemaVersion = schemaVersion;
  }

  /**
   * Opens the existing store at {@code file} for reading, whether or not another process owns it.
   *
   * @throws StoreOpenException if {@code file} does not exist, is not a regular file, cannot be
   *     read, or is not a KVLog store (nothing is created or changed)
   * @throws SchemaException if the store's schema is newer than this build knows
   */
  public static KVLogReader open(Path file) {
    Objects.requireNonNull(file, "file");
    Path path = file.toAbsolutePath().normalize();
    if (!Files.exists(path)) {
      throw new StoreOpenException(
          path
              + " does not exist; reading never creates a store: check the path (a store is"
              + " created by opening it for writing, e.g. kvlog --file "
              + path
              + " set KEY VALUE)");
    }
    if (!Files.isRegularFile(path)) {
      throw new StoreOpenException(path + " is not a regular file; give the store's .db file");
    }
    if (!Files.isReadable(path)) {
      throw new StoreOpenException(
          path + " is not readable by this process (permission denied); fix its permissions");
    }
    Connection c = null;
    try {
      c = connect(path);
      long applicationId;
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("PRAGMA application_id")) {
        applicationId = rs.next() ? rs.getLong(1) : 0;
      }
      if (applicationId != Database.APPLICATION_ID) {
        throw new StoreOpenException(
            path
                + " is not a KVLog store (application_id "
                + applicationId
                + ", expected "
                + Database.APPLICATION_ID
                + "); check the path");
      }
      int version = Migrations.currentVersion(c);
      if (version > Migrations.latestVersion()) {
        throw new SchemaException(
            path
                + " has schema version "
                + version
                + ", but this KVLog build knows versions up to "
                + Migrations.latestVersion()
                + "; upgrade KVLog to read it");
      }
      return new KVLogReader(path, c, version);
    } catch (SQLException | RuntimeException e) {
      closeQuietly(c, e);
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      if (e instanceof SQLiteException
          && ((SQLiteException) e).getResultCode() == SQLiteErrorCode.SQLITE_READONLY_DIRECTORY) {
        throw new StoreOpenException(
            "cannot read "
                + path
                + " in place: it is in WAL mode and SQLite must create "
                + path.getFileName()
                + "-shm beside it, but this process cannot write to "
                + path.getParent()
                + "; copy the store (with its -wal file, if any) to a writable directory",
            e);
      }
      if (e instanceof SQLException) {
        throw new StoreOpenException(Errors.describe(path, (SQLException) e), e);
      }
      throw (RuntimeException) e;
    }
  }

  /**
   * The committed value of {@code key}: one indexed {@code SELECT}.
   *
   * @throws dev.kvlog.CorruptValueException if the stored value is not valid UTF-8 (another tool
   *     wrote it): refused, naming its bytes, as the library refuses it, never replaced by U+FFFD
   * @throws KVLogException if SQLite cannot read the file
   * @throws StoreClosedException if this reader is closed
   */
  public synchronized Optional<String> get(String key) {
    Objects.requireNonNull(key, "key must not be null");
    checkOpen();
    try (PreparedStatement s =
        connection.prepareStatement("SELECT CAST(value AS BLOB) FROM kv WHERE key = ?")) {
      s.setString(1, key);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next()
            ? Optional.of(TableLoader.decodeStrictly(rs.getBytes(1), key))
            : Optional.empty();
      }
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    }
  }

  /**
   * Calls {@code action} for each entry with {@code from <= key < to} (nulls: unbounded) in key
   * order, from one read transaction (a consistent snapshot), streaming rows: memory stays flat
   * however large the store. The snapshot is held until the last row is read, which keeps the
   * owner's WAL from being reset meanwhile; a slow {@code action} delays that, not the owner's
   * writes.
   *
   * @throws dev.kvlog.CorruptValueException at the first key or value that is not valid UTF-8
   *     (another tool wrote it), after the entries before it were passed to {@code action}
   * @throws KVLogException if SQLite cannot read the file
   * @throws StoreClosedException if this reader is closed
   */
  public synchronized void forEach(
      String from, String to, BiConsumer<? super String, ? super String> action) {
    Objects.requireNonNull(action, "action");
    checkOpen();
    try {
      Database.forEachInRange(connection, from, to, action::accept);
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    }
  }

  /**
   * The entries whose keys start with {@code prefix}, as {@link #forEach(String, String,
   * BiConsumer)} does.
   *
   * @throws KVLogException if SQLite cannot read the file
   * @throws StoreClosedException if this reader is closed
   */
  public void forEachWithPrefix(String prefix, BiConsumer<? super String, ? super String> action) {
    Objects.requireNonNull(prefix, "prefix");
    forEach(
        prefix.isEmpty() ? null : prefix,
        dev.kvlog.internal.Text.successorOfPrefix(prefix),
        action);
  }

  /**
   * The number of committed entries ({@code count(*)}, which reads the key index).
   *
   * @throws KVLogException if SQLite cannot read the file
   * @throws StoreClosedException if this reader is closed
   */
  public synchronized int size() {
    checkOpen();
    try (Statement s = connection.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM kv")) {
      rs.next();
      return rs.getInt(1);
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    }
  }

  /** The schema version recorded in the store. */
  public int schemaVersion() {
    return schemaVersion;
  }

  /** The database file (absolute). */
  public Path path() {
    return path;
  }

  /**
   * Runs SQLite's full {@code PRAGMA integrity_check} in one read transaction.
   *
   * @return the problems found (at most 100), empty if the file is sound
   * @throws KVLogException if the file cannot be read at all
   * @throws StoreClosedException if this reader is closed
   */
  public synchronized List<String> check() {
    checkOpen();
    try {
      return Database.check(connection, true);
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    }
  }

  /**
   * Writes a consistent, fsynced copy of the committed store to {@code target}, as {@link
   * KVLog#backup} does, while the owner goes on writing.
   *
   * @throws IllegalArgumentException if {@code target} exists (a backup never overwrites) or its
   *     directory does not
   * @throws KVLogException if SQLite or the file system failed; no file is left behind
   * @throws StoreClosedException if this reader is closed
   */
  public synchronized void backup(Path target) {
    Objects.requireNonNull(target, "target");
    checkOpen();
    Backup.write(() -> connect(path), path, target); // its own snapshot, closed after
  }

  /** Entries and file sizes now; see {@link KVLog#stats()} for the owner's counters. */
  public record Stats(
      Path path, int entries, long databaseBytes, long walBytes, int schemaVersion) {
    /** As a map, in display order. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new java.util.LinkedHashMap<>();
      m.put("path", path.toString());
      m.put("entries", entries);
      m.put("databaseBytes", databaseBytes);
      m.put("walBytes", walBytes);
      m.put("schemaVersion", schemaVersion);
      return m;
    }
  }

  /**
   * The committed entry count, file sizes and schema version.
   *
   * @throws KVLogException if SQLite cannot read the file
   * @throws StoreClosedException if this reader is closed
   */
  public Stats stats() {
    int entries = size();
    return new Stats(
        path, entries, sizeOf(path), sizeOf(StoreFileSet.of(path).wal()), schemaVersion);
  }

  /** A read-only connection: SQLite refuses every write through it. */
  private static Connection connect(Path path) throws SQLException {
    Properties readOnly = new Properties();
    readOnly.setProperty("open_mode", Integer.toString(SQLiteOpenMode.READONLY.flag));
    readOnly.setProperty("busy_timeout", "5000");
    return DriverManager.getConnection("jdbc:sqlite:" + path, readOnly);
  }

  private static long sizeOf(Path file) {
    try {
      return Files.size(file);
    } catch (java.io.IOException e) {
      return 0;
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new StoreClosedException("reader of " + path + " is closed");
    }
  }

  /** Closes the connection; idempotent. */
  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      closeQuietly(connection, null);
    }
  }

  private static void closeQuietly(Connection c, Exception primary) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (SQLException e) {
      if (primary != null) {
        primary.addSuppressed(e);
      }
    }
  }

  @Override
  public String toString() {
    return "KVLogReader[" + path + "]";
  }
}
