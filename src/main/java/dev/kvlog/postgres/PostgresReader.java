package dev.kvlog.postgres;

import dev.kvlog.KVLogException;
import dev.kvlog.SchemaException;
import dev.kvlog.StoreOpenException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * Read commands on PostgreSQL: one plain connection in read-only transactions, instead of a {@code
 * KVLog#connect}, which would apply migrations (creating the tables in an empty schema), load every
 * row into its cache and start a change listener just to answer one {@code get}. Each call is one
 * {@code REPEATABLE READ, READ ONLY} transaction; {@link #forEach} streams rows with a cursor
 * (fetch size 1000).
 *
 * <p>For tools (the {@code kvlog} command line's read commands and {@code copy}, through {@code
 * dev.kvlog.tools.Source}); not an API. Not thread-safe: one connection, one caller at a time.
 */
public final class PostgresReader implements AutoCloseable {
  private final Connection c;
  private final String where;

  private PostgresReader(Connection c, String where) {
    this.c = c;
    this.where = where;
  }

  /**
   * Opens {@code url} for reading; {@code where} names it in messages (the URL with its secrets
   * masked). Refuses a schema without a KVLog store, and one newer than this build.
   */
  public static PostgresReader open(String url, String where) {
    Connection c = null;
    try {
      c = DriverManager.getConnection(url);
      c.setAutoCommit(false);
      c.setReadOnly(true);
      c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
      PostgresReader reader = new PostgresReader(c, where);
      boolean hasTable;
      boolean hasHistory; // kvlog_schema, or Flyway's history for a store Flyway manages
      try (PreparedStatement s =
              c.prepareStatement(
                  "SELECT to_regclass('kv') IS NOT NULL, to_regclass('kvlog_schema') IS NOT NULL"
                      + " OR to_regclass('flyway_schema_history') IS NOT NULL");
          ResultSet rs = s.executeQuery()) {
        rs.next();
        hasTable = rs.getBoolean(1);
        hasHistory = rs.getBoolean(2);
      }
      c.rollback();
      if (!hasTable) {
        throw new StoreOpenException(
            where
                + " holds no KVLog store (no table kv in the current schema); read commands never"
                + " create one: check the database and ?currentSchema= in the URL");
      }
      if (!hasHistory) {
        throw new StoreOpenException(
            where
                + " is not a KVLog store: it has a table kv but no kvlog_schema (nor Flyway's"
                + " history), so something else made it; check the database and ?currentSchema="
                + " in the URL");
      }
      int version = reader.schemaVersion();
      if (version > PgMigrations.latestVersion()) {
        throw new SchemaException(
            where + " has schema version " + version + ", newer than this build; upgrade KVLog");
      }
      return reader;
    } catch (SQLException | RuntimeException e) {
      if (c != null) {
        try {
          c.close();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      if (e instanceof SQLException) {
        throw new StoreOpenException("cannot read " + where + ": " + e.getMessage(), e);
      }
      throw (RuntimeException) e;
    }
  }

  public Optional<String> get(String key) {
    return read(
        () -> {
          try (PreparedStatement s = c.prepareStatement("SELECT value FROM kv WHERE key = ?")) {
            s.setString(1, key);
            try (ResultSet rs = s.executeQuery()) {
              return rs.next() ? Optional.of(rs.getString(1)) : Optional.<String>empty();
            }
          }
        });
  }

  public void forEach(String from, String to, BiConsumer<String, String> action) {
    read(
        () -> {
          try (PreparedStatement s =
              c.prepareStatement(
                  "SELECT key, value FROM kv WHERE (?::text IS NULL OR key >= ?)"
                      + " AND (?::text IS NULL OR key < ?) ORDER BY key")) {
            s.setFetchSize(1000);
            s.setString(1, from);
            s.setString(2, from);
            s.setString(3, to);
            s.setString(4, to);
            try (ResultSet rs = s.executeQuery()) {
              while (rs.next()) {
                action.accept(rs.getString(1), rs.getString(2));
              }
            }
          }
          return null;
        });
  }

  public int size() {
    return read(
        () -> {
          try (PreparedStatement s = c.prepareStatement("SELECT count(*) FROM kv");
              ResultSet rs = s.executeQuery()) {
            rs.next();
            return rs.getInt(1);
          }
        });
  }

  public int schemaVersion() {
    return read(() -> PgMigrations.currentVersion(c));
  }

  private interface Query<T> {
    T run() throws SQLException;
  }

  /** Runs {@code q} in its own read-only transaction. */
  private <T> T read(Query<T> q) {
    try {
      try {
        return q.run();
      } finally {
        c.rollback(); // nothing to keep: the transaction only read
      }
    } catch (SQLException e) {
      throw new KVLogException("reading " + where + " failed: " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    try {
      c.close();
    } catch (SQLException ignored) {
      // a read-only session: nothing is lost
    }
  }
}
