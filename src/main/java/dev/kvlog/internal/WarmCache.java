package dev.kvlog.internal;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;

/**
 * The whole table in memory, as the encoded text the database holds. Strings are immutable, so no
 * caller can change a cached entry; codecs decode a fresh object on every read.
 *
 * <p>Invariant: only the {@link CommitLog} changes the cache, after the commit that made the change
 * durable and while it still holds the writer lock. So a reader never sees a change a crash could
 * lose, and the cache equals the table whenever no write is in flight.
 */
public final class WarmCache {
  private final ConcurrentHashMap<String, String> map;

  private WarmCache(ConcurrentHashMap<String, String> map) {
    this.map = map;
  }

  /** Reads the whole {@code kv} table. */
  public static WarmCache load(Connection c) throws SQLException {
    int rows;
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM kv")) {
      rs.next();
      rows = rs.getInt(1);
    }
    ConcurrentHashMap<String, String> map = new ConcurrentHashMap<>(Math.max(16, rows * 4 / 3 + 1));
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT key, value FROM kv")) {
      while (rs.next()) {
        map.put(rs.getString(1), rs.getString(2));
      }
    }
    return new WarmCache(map);
  }

  public String get(String key) {
    return map.get(key);
  }

  void put(String key, String value) {
    map.put(key, value);
  }

  void remove(String key) {
    map.remove(key);
  }

  public int size() {
    return map.size();
  }

  /** Weakly consistent, like {@link ConcurrentHashMap#forEach(BiConsumer)}. */
  public void forEach(BiConsumer<String, String> action) {
    map.forEach(action);
  }

  public void clear() {
    map.clear();
  }
}
