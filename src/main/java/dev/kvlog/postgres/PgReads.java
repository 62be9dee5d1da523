package dev.kvlog.postgres;

import dev.kvlog.KVLogException;
import dev.kvlog.internal.Text;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;

/**
 * The reads of a PostgreSQL store: single keys from the cache, unless the key's last write ended
 * with an unknown outcome (then the outcome is settled first) or the change feed has not caught up
 * for longer than the cache may be trusted (then the table is read); ranges always from the table.
 * See {@link PostgresBackend} for the guarantees these give.
 *
 * <p>Thread-safe (the cache and the pool are; this class keeps no state of its own).
 */
final class PgReads {
  private final String where;
  private final DataSource pool;
  private final PgCache cache;
  private final PgChangeFeed feed;

  PgReads(String where, DataSource pool, PgCache cache, PgChangeFeed feed) {
    this.where = where;
    this.pool = pool;
    this.cache = cache;
    this.feed = feed;
  }

  /** See {@link PostgresBackend#get}. */
  String get(String k) {
    if (cache.isUncertain(k)) {
      return settle(k);
    }
    long stale = feed.staleMillis();
    return stale > PgChangeFeed.TRUSTED_MS ? readThrough(k, stale) : cache.value(k);
  }

  private String readThrough(String key, long staleMillis) {
    try (Connection c = pool.getConnection()) {
      return PgRows.readKey(c, key, cache);
    } catch (SQLException e) {
      throw new KVLogException(
          "cannot read key "
              + Text.excerpt(key)
              + " from "
              + where
              + ": the change feed has not caught up for "
              + staleMillis
              + " ms, longer than the "
              + PostgresBackend.STALENESS_BOUND_SECONDS
              + " s staleness bound allows, so the cache may be stale, and reading the table"
              + " failed too: "
              + e.getMessage()
              + "; retry once the server is reachable",
          e);
    }
  }

  /**
   * Settles a key whose write's outcome was unknown: ends the server processes those writes ran on
   * ({@link PgWrites#endBackends}), so none can still commit, then reads the key from the table.
   */
  private String settle(String key) {
    SQLException first = null;
    for (int attempt = 0; attempt < 2; attempt++) { // the pool may hand out a connection that died
      try (Connection c = pool.getConnection()) {
        Set<Integer> orphans = cache.orphans(key);
        PgWrites.endBackends(c, orphans);
        String value = PgRows.readKey(c, key, cache);
        cache.settled(key, orphans);
        return value;
      } catch (SQLException e) {
        if (first != null) {
          e.addSuppressed(first);
        }
        first = e;
      }
    }
    throw new KVLogException(
        "cannot read key "
            + Text.excerpt(key)
            + " from "
            + where
            + ": its last write's outcome is unknown, so the cached value may be wrong, and"
            + " settling it (ending the server process that ran the write, then re-reading)"
            + " failed: "
            + first.getMessage()
            + "; retry once the server is reachable",
        first);
  }

  /** See {@link PostgresBackend#range}. */
  List<Map.Entry<String, String>> range(String lo, String hi) {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    try (Connection c = pool.getConnection();
        PreparedStatement s =
            c.prepareStatement(
                "SELECT key, value FROM kv WHERE (?::text IS NULL OR key >= ?)"
                    + " AND (?::text IS NULL OR key < ?) ORDER BY key")) {
      s.setString(1, lo);
      s.setString(2, lo);
      s.setString(3, hi);
      s.setString(4, hi);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          out.add(new AbstractMap.SimpleImmutableEntry<>(rs.getString(1), rs.getString(2)));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new KVLogException("range read from " + where + " failed: " + e.getMessage(), e);
    }
  }
}
