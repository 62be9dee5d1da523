package dev.kvlog.postgres;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import javax.sql.DataSource;

/**
 * Reads of the versioned tables into a {@link PgCache}: a key's row and tombstone, the rows of
 * given versions (what the change feed announces), or everything (a reload). Each read is one
 * statement or one snapshot, and every row is applied with {@link PgCache#advance}, so a read that
 * raced a newer write can never move a key backwards.
 *
 * <p>Thread-safe (stateless).
 */
final class PgRows {
  private static final String ROWS_AND_TOMBSTONES =
      "SELECT key, value, version FROM kv%1$s UNION ALL SELECT key, NULL, version FROM kv_tombstone%1$s";

  private PgRows() {}

  /** Re-reads {@code key}; returns its value (null: absent) as this instance now sees it. */
  static String readKey(Connection c, String key, PgCache cache) throws SQLException {
    try (PreparedStatement s =
        c.prepareStatement(String.format(ROWS_AND_TOMBSTONES, " WHERE key = ?"))) {
      s.setString(1, key);
      s.setString(2, key);
      apply(s, cache);
    }
    return cache.value(key);
  }

  /** Applies the rows and tombstones that currently carry one of {@code versions}. */
  static void readVersions(Connection c, Long[] versions, PgCache cache) throws SQLException {
    try (PreparedStatement s =
        c.prepareStatement(String.format(ROWS_AND_TOMBSTONES, " WHERE version = ANY(?)"))) {
      Array array = c.createArrayOf("bigint", versions);
      s.setArray(1, array);
      s.setArray(2, array);
      apply(s, cache);
    }
  }

  /**
   * Applies every row and tombstone, read in one snapshot through a cursor, and removes the cached
   * keys that snapshot no longer has (see {@link PgCache} for why that never moves a key back).
   * Returns how many keys were removed.
   */
  static int readAll(DataSource pool, PgCache cache) throws SQLException {
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false); // a cursor instead of the whole table in one response
      try (Statement s = c.createStatement()) {
        s.setFetchSize(10_000);
        Map<String, PgCache.Entry> before = cache.copy(); // before the statement's snapshot
        try (ResultSet rs = s.executeQuery(String.format(ROWS_AND_TOMBSTONES, ""))) {
          while (rs.next()) {
            String key = rs.getString(1);
            before.remove(key);
            cache.advance(key, rs.getString(2), rs.getLong(3));
          }
        }
        c.commit();
        int removed = 0;
        for (Map.Entry<String, PgCache.Entry> gone : before.entrySet()) {
          if (cache.removeIfUnchanged(gone.getKey(), gone.getValue())) {
            removed++;
          }
        }
        return removed;
      } finally {
        c.setAutoCommit(true);
      }
    }
  }

  private static void apply(PreparedStatement s, PgCache cache) throws SQLException {
    try (ResultSet rs = s.executeQuery()) {
      while (rs.next()) {
        cache.advance(rs.getString(1), rs.getString(2), rs.getLong(3));
      }
    }
  }
}
