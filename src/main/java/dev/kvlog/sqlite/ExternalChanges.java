package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import dev.kvlog.KVLogException;
import dev.kvlog.SchemaException;
import dev.kvlog.StoreOpenException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What other connections did to the store's file: commits they made ({@code PRAGMA data_version}),
 * a schema they changed ({@code PRAGMA schema_version}, then {@link TableShape} again), and whether
 * the file itself is still the one opened (device and inode). Keeps the writer's {@link TableCache}
 * equal to the table when someone else writes it. Not thread-safe: every method but {@link #open}
 * is called holding the writer lock (see {@link GroupCommitter}), on the writer connection.
 *
 * <p><b>Invariant: the recorded {@code data_version} names a state the cache holds.</b> It is
 * recorded only after the rows read at that version were published. A reload that fails (say a key
 * that is not valid UTF-8) records nothing, so the next write or check tries again, and writes fail
 * with the reload's error, the table unchanged, until the cause is repaired: never decided on what
 * it failed to read.
 *
 * <p><b>The table's shape.</b> A reload first re-checks the {@code kv} table if {@code PRAGMA
 * schema_version} moved, and fails like any failed reload if it is no longer the one KVLog created
 * (see {@link TableShape}, which keeps that invariant).
 */
final class ExternalChanges {
  private static final Logger log = LoggerFactory.getLogger(ExternalChanges.class);

  private final Path path;
  private final Connection connection;
  private final TableCache cache;
  private final CommitStats stats;
  private final Object fileKey; // the database file's identity (device and inode) at open
  private PreparedStatement dataVersionQuery;
  private long dataVersion; // the version whose rows the cache holds; see the invariant above
  private boolean cacheStale; // publishing a commit failed: reload before the next decision
  private long checkedSchemaVersion; // the schema_version whose kv table TableShape accepted
  private String lastPollFailure; // the message last logged by a failed poll

  private ExternalChanges(
      Path path, Connection connection, CommitStats stats, Object fileKey, TableCache cache) {
    this.path = path;
    this.connection = connection;
    this.stats = stats;
    this.fileKey = fileKey;
    this.cache = cache;
  }

  /** Makes the cache at open, calling {@code inSnapshot} in the snapshot it reads (if any). */
  @FunctionalInterface
  interface CacheFactory {
    TableCache create(TableLoader.SqlRunnable inSnapshot) throws SQLException;
  }

  /**
   * Records the file's identity, makes the cache with {@code factory} (the whole table loaded in
   * one snapshot, or an empty bounded cache), records the versions it saw, then takes in what other
   * connections committed meanwhile.
   *
   * @throws StoreOpenException if the table is not the one KVLog created, or holds text that is not
   *     valid UTF-8
   */
  static ExternalChanges open(
      Path path, Connection connection, CacheFactory factory, CommitStats stats)
      throws SQLException {
    Object fileKey = StoreFiles.fileKey(path);
    long[] version = new long[2];
    TableCache cache;
    try {
      cache =
          factory.create(
              () -> {
                version[0] = Long.parseLong(Database.pragma(connection, "data_version"));
                version[1] = schemaVersion(connection);
                String problem = TableShape.problem(connection);
                if (problem != null) { // changed since Database.checkIsStore looked
                  throw new StoreOpenException(path + " cannot be opened: " + problem);
                }
              });
    } catch (CorruptValueException e) {
      throw new StoreOpenException("cannot open " + path + ": " + e.getMessage(), e);
    }
    ExternalChanges changes = new ExternalChanges(path, connection, stats, fileKey, cache);
    changes.dataVersion = version[0];
    changes.checkedSchemaVersion = version[1];
    changes.prepare();
    // Another connection may have committed while the table loaded (the load pins a snapshot and
    // holds no lock): pick that up now, as the periodic check would, so open returns a cache at
    // least as new as the end of the load. One PRAGMA data_version when nothing changed.
    changes.poll();
    return changes;
  }

  /** The cache kept equal to the table. */
  TableCache cache() {
    return cache;
  }

  /** Checked before every group, so prepared once: a step, not a parse. */
  void prepare() throws SQLException {
    dataVersionQuery = connection.prepareStatement("PRAGMA data_version");
  }

  /** The prepared statement, for the writer to close (it re-prepares after failures). */
  AutoCloseable statement() {
    return dataVersionQuery;
  }

  /**
   * The problem if the database file was deleted or replaced since open, else null: in WAL mode
   * SQLite would go on appending to a WAL whose database is gone, and a reopen would not find those
   * writes. One stat() per group.
   */
  SQLException fileProblem() {
    Object now = StoreFiles.fileKey(path);
    if (fileKey != null && !fileKey.equals(now)) {
      return new SQLException(
          path + (now == null ? " no longer exists" : " was replaced by another file"));
    }
    return null;
  }

  /** Publishing a commit to the cache failed: reload it before the next decision. */
  void markStale() {
    cacheStale = true;
  }

  private long dataVersion() throws SQLException {
    try (ResultSet rs = dataVersionQuery.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Reloads the cache if another connection committed since the state it holds (or if it is stale),
   * publishing the differences at once and only then recording the version read.
   *
   * @param inTransaction whether the connection is inside the write transaction (then the read
   *     happens in it, at the state the write will be decided on)
   * @return whether the cache changed
   * @throws CorruptValueException if a changed row is not valid UTF-8; nothing is recorded
   * @throws SchemaException if the table is no longer the one KVLog created; nothing is recorded
   */
  boolean reloadIfChanged(boolean inTransaction) throws SQLException {
    if (!cacheStale && dataVersion() == dataVersion) {
      return false;
    }
    checkShape();
    long[] version = new long[1];
    int changed = cache.takeIn(connection, inTransaction, () -> version[0] = dataVersion());
    dataVersion = version[0];
    cacheStale = false;
    stats.recordExternalReload();
    if (changed < 0) {
      log.info("{} was changed by another connection; dropped the cached entries", path);
    } else {
      log.info(
          "{} was changed by another connection; reloaded the cache ({} keys differed)",
          path,
          changed);
    }
    return true;
  }

  /**
   * {@link #reloadIfChanged} for the periodic check: a failure is logged, once for as long as it
   * recurs (every interval until someone repairs the table), and not thrown.
   */
  void poll() {
    try {
      reloadIfChanged(false);
      lastPollFailure = null;
    } catch (SQLException | KVLogException e) {
      if (!String.valueOf(e.getMessage()).equals(lastPollFailure)) {
        lastPollFailure = String.valueOf(e.getMessage());
        log.warn("cannot check {} for changes by other connections", path, e);
      }
    }
  }

  private static long schemaVersion(Connection c) throws SQLException {
    return Long.parseLong(Database.pragma(c, "schema_version"));
  }

  /**
   * Checks the kv table again if another connection changed the schema since it was last accepted
   * (see {@link TableShape}); records nothing unless it passes, so writes stay refused until the
   * table is repaired.
   *
   * @throws SchemaException if the table is not the one KVLog created; nothing is recorded
   */
  private void checkShape() throws SQLException {
    long version = schemaVersion(connection);
    if (version == checkedSchemaVersion) {
      return;
    }
    String problem = TableShape.problem(connection);
    if (problem != null) {
      throw new SchemaException(
          path
              + " was changed by another tool and "
              + problem
              + " Until then, writes are refused with the table unchanged.");
    }
    checkedSchemaVersion = version;
  }
}
