package dev.kvlog.sqlite;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kvlog.StoreOpenException;
import dev.kvlog.internal.KeyRangeSql;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.sqlite.SQLiteErrorCode;

/**
 * The HikariCP pool over sqlite-jdbc, and the checks that it is configured as promised.
 *
 * <p>Four connections, all opened at start and never retired: SQLite has a single writer, so the
 * {@link SqliteWriter} holds one connection for the life of the store and serializes writes in Java
 * (writers queue on a lock instead of spinning in SQLite's busy handler); the {@link Housekeeper}
 * holds the second for checkpoints; scans, backups and checks borrow the other two, so they read a
 * snapshot while writers go on (more of them at once queue for a connection). Every connection gets
 * {@code journal_mode=WAL}, {@code synchronous=FULL} and {@code busy_timeout} as driver properties
 * when it is created, and {@link #open} reads them back from each one, refusing to run with weaker
 * settings. Thread-safe (the pool is).
 */
public final class Database implements AutoCloseable {
  /** 'KVLG' in the database header; set by sql/sqlite/V1__create_kv.sql. */
  public static final int APPLICATION_ID = 0x4B564C47;

  static final int POOL_SIZE = 4;
  private static final int SYNCHRONOUS_FULL = 2;

  private final Path path;
  private final HikariDataSource pool;
  private final int poolSize;

  private Database(Path path, HikariDataSource pool, int poolSize) {
    this.path = path;
    this.pool = pool;
    this.poolSize = poolSize;
  }

  /**
   * Starts the pool on {@code path} and verifies every connection's pragmas.
   *
   * @param pragmas extra per-connection pragmas (tests use them to weaken durability on purpose and
   *     check that the verification catches it)
   * @param weakSyncForTests accept synchronous below FULL: only for the power-cut tests' negative
   *     controls, which must show that a weaker setting loses acknowledged writes
   */
  static Database open(
      StoreFileSet files,
      Duration busyTimeout,
      long walLimitBytes,
      int poolSize,
      Map<String, String> pragmas,
      boolean weakSyncForTests) {
    Path path = files.database();
    HikariConfig config = new HikariConfig();
    config.setPoolName("kvlog:" + path.getFileName());
    config.setJdbcUrl(files.jdbcUrl());
    config.addDataSourceProperty("journal_mode", "WAL");
    config.addDataSourceProperty("synchronous", "FULL");
    config.addDataSourceProperty("busy_timeout", Long.toString(busyTimeout.toMillis()));
    // Checkpoints run on the Housekeeper's thread, not inside commits; a reset WAL is truncated.
    config.addDataSourceProperty("wal_autocheckpoint", "0");
    config.addDataSourceProperty("journal_size_limit", Long.toString(walLimitBytes));
    pragmas.forEach(config::addDataSourceProperty);
    config.setMaximumPoolSize(poolSize);
    config.setMinimumIdle(poolSize);
    config.setMaxLifetime(0); // a local file does not go stale; the verified connections stay
    config.setKeepaliveTime(0);
    config.setConnectionTimeout(busyTimeout.toMillis() + 5_000);
    config.setInitializationFailTimeout(1);
    HikariDataSource pool;
    try {
      pool = new HikariDataSource(config);
    } catch (RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      if (cause instanceof SQLException
          && Errors.primaryCode((SQLException) cause) == SQLiteErrorCode.SQLITE_BUSY.code) {
        // Another connection (a sqlite3 shell's transaction) holds SQLite's lock on the file.
        throw new StoreOpenException(Errors.describe(path, (SQLException) cause), e);
      }
      throw new StoreOpenException(
          "cannot open SQLite database " + path + ": " + cause.getMessage(), e);
    }
    Database database = new Database(path, pool, poolSize);
    try {
      database.verifyPragmas(busyTimeout, weakSyncForTests);
      return database;
    } catch (RuntimeException e) {
      pool.close();
      throw e;
    }
  }

  /** A connection from the pool, in auto-commit mode. */
  public Connection connection() throws SQLException {
    return pool.getConnection();
  }

  private void verifyPragmas(Duration busyTimeout, boolean weakSyncForTests) {
    List<Connection> borrowed = new ArrayList<>();
    try {
      for (int i = 1; i <= poolSize; i++) {
        Connection c = pool.getConnection();
        borrowed.add(c);
        String journal = pragma(c, "journal_mode");
        long synchronous = Long.parseLong(pragma(c, "synchronous"));
        long timeout = Long.parseLong(pragma(c, "busy_timeout"));
        String where = " on pooled connection " + i + " of " + poolSize + " for " + path;
        if (!"wal".equalsIgnoreCase(journal)) {
          throw new StoreOpenException(
              "PRAGMA journal_mode is "
                  + journal
                  + where
                  + ", expected wal; is the file on a file system without shared memory support?");
        }
        if (synchronous < SYNCHRONOUS_FULL && !weakSyncForTests) {
          throw new StoreOpenException(
              "PRAGMA synchronous is "
                  + synchronous
                  + where
                  + ", expected 2 (FULL): without it an acknowledged write could be lost on power"
                  + " loss; refusing to run");
        }
        if (timeout != busyTimeout.toMillis()) {
          throw new StoreOpenException(
              "PRAGMA busy_timeout is " + timeout + where + ", expected " + busyTimeout.toMillis());
        }
      }
    } catch (SQLException e) {
      throw new StoreOpenException(Errors.describe(path, e), e);
    } finally {
      for (Connection c : borrowed) {
        try {
          c.close();
        } catch (SQLException ignored) {
          // returning a connection to the pool does not fail for SQLite
        }
      }
    }
  }

  static String pragma(Connection c, String name) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("PRAGMA " + name)) {
      return rs.next() ? rs.getString(1) : "";
    }
  }

  /**
   * Refuses a SQLite database that is not a KVLog store (a foreign application id, or tables of its
   * own; an empty database, new or created empty by someone, is accepted), one whose schema is
   * newer than this build, one whose kv table is not the one KVLog created ({@link TableShape}:
   * other columns, types, NOT NULL, STRICT, WITHOUT ROWID, triggers), and, if {@code quickCheck},
   * one that SQLite's {@code PRAGMA quick_check} finds damaged, naming the first problems. KVLog
   * never repairs a store by deleting what it cannot read.
   *
   * <p>Runs on a read-only connection without KVLog's pragmas, before the pool starts, so that a
   * refused file is never changed: the pool's first connection switches the file to WAL mode
   * (header bytes 18 and 19) and its last one checkpoints the WAL into the file. A plain read-only
   * connection to a file in WAL mode could still create {@code -wal} or {@code -shm}; this one does
   * not ({@link ReadOnlyView}).
   *
   * @throws StoreOpenException naming the problem and the fix
   * @throws dev.kvlog.SchemaException if the store's schema is newer than this build
   */
  public static void checkIsStore(Path path, boolean quickCheck) {
    try (ReadOnlyView view = ReadOnlyView.of(path)) {
      Connection c = view.connection();
      long applicationId = Long.parseLong(pragma(c, "application_id"));
      if (applicationId != APPLICATION_ID) {
        List<String> tables = new ArrayList<>();
        try (Statement s = c.createStatement();
            ResultSet rs =
                s.executeQuery(
                    "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name")) {
          while (rs.next()) {
            tables.add(rs.getString(1));
          }
        }
        if (applicationId != 0 || !tables.isEmpty()) {
          throw new StoreOpenException(
              path
                  + " is a SQLite database but not a KVLog store"
                  + " (application_id="
                  + applicationId
                  + ", tables="
                  + tables
                  + "); refusing to open it."
                  + " Choose another path.");
        }
      }
      // A newer schema is refused here too, so that the refusal comes before the lock file exists.
      int version = Migrations.currentVersion(c);
      Migrations.refuseNewer(path.toString(), version, Migrations.latestVersion());
      if (version >= 1) { // the kv table exists from version 1 on: it must be KVLog's (TableShape)
        String problem = TableShape.problem(c);
        if (problem != null) {
          throw new StoreOpenException(path + " cannot be opened: " + problem);
        }
      }
      if (quickCheck) {
        List<String> problems = check(c, false);
        if (!problems.isEmpty()) {
          throw new StoreOpenException(corruptionMessage(path, problems));
        }
      }
    } catch (SQLException e) {
      throw new StoreOpenException(describeCheckFailure(path, e), e);
    }
  }

  /** Entries with lo <= key < hi (nulls: unbounded), in key order, from one statement. */
  public static List<Map.Entry<String, String>> range(Connection c, String lo, String hi)
      throws SQLException {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    forEachInRange(
        c, lo, hi, (k, v) -> out.add(new java.util.AbstractMap.SimpleImmutableEntry<>(k, v)));
    return out;
  }

  /**
   * Streams the entries with lo <= key < hi (nulls: unbounded) to {@code action}, in key order,
   * from one statement (one snapshot, held until the last row is read).
   *
   * @throws dev.kvlog.CorruptValueException at the first key or value that is not valid UTF-8; the
   *     entries before it were passed to {@code action}
   */
  public static void forEachInRange(
      Connection c, String lo, String hi, java.util.function.BiConsumer<String, String> action)
      throws SQLException {
    try (PreparedStatement s = prepareRange(c, lo, hi, null, false)) {
      bind(s, lo, hi, null);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          // The bytes, strictly decoded: getString would turn invalid UTF-8 another tool wrote
          // into U+FFFD, and a reader (kvlog export, copy) would pass that on as the value.
          String key = TableLoader.decodeStrictly(rs.getBytes(1), null);
          action.accept(key, TableLoader.decodeStrictly(rs.getBytes(2), key));
        }
      }
    }
  }

  /**
   * One page of a lazy scan: entries with lo <= key < hi (nulls: unbounded) and key > after (null:
   * from lo), in key order, at most {@code limit} of them, ending early once the entries' text (two
   * bytes per char of key and value) reaches {@code maxBytes}. One statement; the caller gives it
   * its snapshot ({@link SqliteWriter#readConsistent}).
   *
   * @throws dev.kvlog.CorruptValueException at the first key or value that is not valid UTF-8
   */
  static List<Map.Entry<String, String>> rangePage(
      Connection c, String lo, String hi, String after, int limit, long maxBytes)
      throws SQLException {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    long bytes = 0;
    try (PreparedStatement s = prepareRange(c, lo, hi, after, true)) {
      s.setInt(bind(s, lo, hi, after), limit);
      try (ResultSet rs = s.executeQuery()) {
        while (bytes < maxBytes && rs.next()) {
          String key = TableLoader.decodeStrictly(rs.getBytes(1), null);
          String value = TableLoader.decodeStrictly(rs.getBytes(2), key);
          out.add(new java.util.AbstractMap.SimpleImmutableEntry<>(key, value));
          bytes += 2L * (key.length() + value.length());
        }
      }
    }
    return out;
  }

  /**
   * A SELECT of the entries with lo <= key < hi and key > after (nulls: no such bound), in key
   * order, optionally with a LIMIT parameter last. Each bound present is its own comparison, so
   * SQLite searches the primary key between them: an {@code (? IS NULL OR key < ?)} form reads on
   * to the end of the table after the last row in range (measured: 41 ms instead of 0.1 ms for 10
   * rows at the start of 1M).
   */
  static PreparedStatement prepareRange(
      Connection c, String lo, String hi, String after, boolean limited) throws SQLException {
    return KeyRangeSql.prepare(c, "CAST(key AS BLOB), CAST(value AS BLOB)", lo, hi, after, limited);
  }

  /** Binds {@link #prepareRange}'s bounds; returns the index of the next parameter. */
  static int bind(PreparedStatement s, String lo, String hi, String after) throws SQLException {
    return KeyRangeSql.bind(s, lo, hi, after);
  }

  /**
   * Runs {@code PRAGMA quick_check} (or {@code integrity_check} if {@code full}) and returns the
   * problems SQLite found; empty if the file is sound. Reads every page; writes nothing.
   */
  public static List<String> check(Connection c, boolean full) throws SQLException {
    List<String> problems = new ArrayList<>();
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(full ? "PRAGMA integrity_check(100)" : "PRAGMA quick_check(100)")) {
      while (rs.next()) {
        String line = rs.getString(1);
        if (!"ok".equals(line)) {
          problems.add(line);
        }
      }
    }
    return problems;
  }

  /**
   * Checks a store file without opening it as a store: a read-only connection (no WAL switch, no
   * cache), {@code integrity_check}. A file that is not a database, or too damaged to read at all,
   * is reported as a problem rather than thrown.
   */
  public static List<String> checkFile(Path path) {
    if (!java.nio.file.Files.isRegularFile(path)) {
      throw new StoreOpenException(path + " does not exist or is not a file");
    }
    try (ReadOnlyView view = ReadOnlyView.of(path)) {
      return check(view.connection(), true);
    } catch (SQLException e) {
      return List.of(describeCheckFailure(path, e));
    }
  }

  /**
   * {@link #checkFile} for a file that must be a KVLog store ({@code kvlog check}): the same
   * read-only view, so it too creates no {@code -wal} or {@code -shm} and works on a closed store
   * in a directory this process cannot write; but a file that is not a KVLog store (another
   * application's database, or not a database) is refused rather than reported as sound or damaged,
   * since nothing about it was checked.
   *
   * @return the problems found (at most 100), empty if the file is a sound store
   * @throws StoreOpenException if the file is missing, not a KVLog store, or cannot be opened (the
   *     cause is SQLite's error, for telling a permission problem apart)
   */
  public static List<String> checkStore(Path path) {
    if (!java.nio.file.Files.isRegularFile(path)) {
      throw new StoreOpenException(path + " does not exist or is not a file");
    }
    try (ReadOnlyView view = ReadOnlyView.of(path)) {
      long applicationId = Long.parseLong(pragma(view.connection(), "application_id"));
      if (applicationId != APPLICATION_ID) {
        throw new StoreOpenException(
            path
                + " is not a KVLog store (application_id "
                + applicationId
                + ", expected "
                + APPLICATION_ID
                + "); check the path");
      }
      return check(view.connection(), true);
    } catch (SQLException e) {
      int code = Errors.primaryCode(e);
      if (code == SQLiteErrorCode.SQLITE_NOTADB.code
          || code == SQLiteErrorCode.SQLITE_CANTOPEN.code
          || code == SQLiteErrorCode.SQLITE_PERM.code
          || code == SQLiteErrorCode.SQLITE_AUTH.code) {
        throw new StoreOpenException(Errors.describe(path, e), e);
      }
      return List.of(describeCheckFailure(path, e));
    }
  }

  /** Names the damage and what to do about it. */
  public static String corruptionMessage(Path path, List<String> problems) {
    return damaged(
        path,
        (problems.size() >= 100 ? "100 or more" : Integer.toString(problems.size()))
            + (problems.size() == 1 ? " problem" : " problems")
            + ", first: "
            + String.join("; ", problems.subList(0, Math.min(3, problems.size()))));
  }

  private static String damaged(Path path, String found) {
    return path
        + " is corrupt: SQLite's check found "
        + found
        + ". Restore it from a backup. KVLog will not open or repair it (a repair could delete"
        + " data); sqlite3's .recover command can salvage what is readable into a new file";
  }

  /** The message for a check that SQLite stopped with an error: damage named as damage. */
  private static String describeCheckFailure(Path path, SQLException e) {
    if (Errors.primaryCode(e) == SQLiteErrorCode.SQLITE_CORRUPT.code) {
      return damaged(path, "damage it cannot read past (" + e.getMessage() + ")");
    }
    return Errors.describe(path, e);
  }

  @Override
  public void close() {
    pool.close();
  }
}
