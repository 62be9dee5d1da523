package dev.kvlog.sqlite;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Map;

/**
 * What the {@link SqliteWriter} keeps equal to the {@code kv} table, and what gets read: either the
 * whole table ({@link WarmCache}, the default) or a bounded part of it ({@link BoundedCache}, with
 * {@code cacheSize}). Both keep the same invariants: only the writer changes what readers see,
 * after the commit that made the change durable and while it holds the writer lock, and each
 * committed transaction becomes visible in one atomic publication.
 */
interface TableCache {

  /**
   * The value of {@code key} as of the last publication, or null: never from the middle of one,
   * never a value that is not durable. A bounded cache may read SQLite to answer.
   */
  String get(String key);

  /**
   * The value {@code key} holds now, for a decision inside the writer's transaction (which holds
   * SQLite's write lock): the cache if it knows, else the table through {@code lookup} ({@link
   * SqliteWriter#LOOKUP} prepared on the writer connection).
   *
   * @throws SQLException if the lookup fails
   */
  String current(String key, PreparedStatement lookup) throws SQLException;

  /**
   * Called by the writer just before the COMMIT of {@code changes}, holding its lock; {@link
   * #publish} follows if it commits.
   */
  default void committing(Map<String, String> changes) {}

  /**
   * Makes all {@code changes} (a null value removes its key) visible at once. Called only by the
   * writer, holding its lock and the publication lock, after the transaction that made them durable
   * committed.
   */
  void publish(Map<String, String> changes);

  /**
   * Takes in what other connections committed, as read on {@code c} (inside the write transaction
   * if {@code inTransaction}, else in a read transaction of its own, which calls {@code
   * inSnapshot}); called by the writer, holding its lock.
   *
   * @return the number of keys found changed, or -1 if the cache dropped everything it held
   */
  int takeIn(Connection c, boolean inTransaction, TableLoader.SqlRunnable inSnapshot)
      throws SQLException;

  /** Whether this holds every entry of the table (then size and copies come from memory). */
  boolean holdsWholeTable();

  /** The number of entries held. */
  int size();

  /**
   * A copy of every entry from between two publications, or null if writers kept publishing during
   * {@code attempts} tries; only if {@link #holdsWholeTable()}.
   */
  Map<String, String> copy(int attempts);

  /** Frees the memory once the store is closed. */
  void clear();

  /** Gets answered from memory (counted by a bounded cache only, else 0). */
  default long hits() {
    return 0;
  }

  /** Gets that read the table (a bounded cache's misses, else 0). */
  default long misses() {
    return 0;
  }

  /** Closes the connections this cache reads on, before the pool closes. */
  default void closeConnections() {}
}
