package dev.kvlog.postgres;

import dev.kvlog.KVLogException;
import dev.kvlog.internal.KeyRangeSql;
import dev.kvlog.spi.Backend;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import javax.sql.DataSource;

/**
 * The lazy scans of a PostgreSQL store, read from the table as {@link PgReads#range} is. A page is
 * one statement (keyset pagination: {@code key > last key of the previous page}, so a page costs an
 * index search, not an offset) in a short read-only transaction, fetched in rounds of at most
 * {@value #PAGE_FETCH} rows so that the byte bound can end it before the rest is transferred. A
 * pinned cursor is one statement in a {@code REPEATABLE READ, READ ONLY} transaction on a pooled
 * connection, read through a server-side portal ({@code setFetchSize}), held until closed: it pins
 * a snapshot (and holds back vacuum's cleanup of rows it may still see) but no WAL.
 *
 * <p>Thread-safe (stateless); a cursor is used by one thread at a time.
 */
final class PgScans {
  /** Rows fetched per round trip within a page. */
  static final int PAGE_FETCH = 100;

  private final String where;
  private final DataSource pool;

  PgScans(String where, DataSource pool) {
    this.where = where;
    this.pool = pool;
  }

  /** See {@link Backend#rangePage}. */
  List<Map.Entry<String, String>> rangePage(
      String from, String to, String after, int limit, long maxBytes) {
    List<Map.Entry<String, String>> out = new ArrayList<>();
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false); // the driver fetches in rounds only inside a transaction
      try (PreparedStatement s = prepare(c, from, to, after, true)) {
        s.setFetchSize(Math.min(limit, PAGE_FETCH));
        s.setInt(bind(s, from, to, after), limit);
        long bytes = 0;
        try (ResultSet rs = s.executeQuery()) {
          while (bytes < maxBytes && rs.next()) {
            String key = rs.getString(1);
            String value = rs.getString(2);
            out.add(new AbstractMap.SimpleImmutableEntry<>(key, value));
            bytes += 2L * (key.length() + value.length());
          }
        }
      } finally {
        c.rollback(); // read only: nothing to commit
        c.setAutoCommit(true);
      }
      return out;
    } catch (SQLException e) {
      throw new KVLogException("range page read from " + where + " failed: " + e.getMessage(), e);
    }
  }

  /** See {@link Backend#openCursor}. */
  Backend.Cursor openCursor(String from, String to, int fetchSize) {
    Connection c = null;
    try {
      c = pool.getConnection();
      c.setAutoCommit(false);
      c.setReadOnly(true);
      c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
      PreparedStatement s = prepare(c, from, to, null, false);
      s.setFetchSize(fetchSize);
      bind(s, from, to, null);
      return new PgCursor(where, c, s.executeQuery()); // the snapshot is taken here
    } catch (SQLException e) {
      KVLogException failure =
          new KVLogException("cursor read from " + where + " failed: " + e.getMessage(), e);
      if (c != null) {
        PgCursor.release(c, failure);
      }
      throw failure;
    }
  }

  /** Entries with lo <= key < hi and key > after (nulls: no such bound), in key order. */
  private static PreparedStatement prepare(
      Connection c, String lo, String hi, String after, boolean limited) throws SQLException {
    return KeyRangeSql.prepare(c, "key, value", lo, hi, after, limited);
  }

  private static int bind(PreparedStatement s, String lo, String hi, String after)
      throws SQLException {
    return KeyRangeSql.bind(s, lo, hi, after);
  }

  /** A pinned scan: one statement in one REPEATABLE READ transaction, until closed. */
  private static final class PgCursor implements Backend.Cursor {
    private final String where;
    private final Connection connection;
    private final ResultSet rows;
    private Boolean ahead; // whether rows is on a row not yet returned; null: not yet stepped
    private boolean closed;

    PgCursor(String where, Connection connection, ResultSet rows) {
      this.where = where;
      this.connection = connection;
      this.rows = rows;
    }

    @Override
    public boolean hasNext() {
      if (closed) {
        return false;
      }
      if (ahead == null) {
        try {
          ahead = rows.next();
        } catch (SQLException e) {
          throw new KVLogException("cursor read from " + where + " failed: " + e.getMessage(), e);
        }
      }
      return ahead;
    }

    @Override
    public Map.Entry<String, String> next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      ahead = null;
      try {
        return new AbstractMap.SimpleImmutableEntry<>(rows.getString(1), rows.getString(2));
      } catch (SQLException e) {
        throw new KVLogException("cursor read from " + where + " failed: " + e.getMessage(), e);
      }
    }

    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      KVLogException failure = new KVLogException("closing a cursor on " + where + " failed");
      try {
        rows.getStatement().close();
      } catch (SQLException e) {
        failure.addSuppressed(e);
      }
      release(connection, failure);
      if (failure.getSuppressed().length > 0) {
        throw failure;
      }
    }

    /** Ends the transaction and returns the connection to the pool, in its usual state. */
    static void release(Connection c, Exception failure) {
      try {
        c.rollback();
        c.setAutoCommit(true);
        c.setReadOnly(false);
      } catch (SQLException e) {
        failure.addSuppressed(e);
      }
      try {
        c.close();
      } catch (SQLException e) {
        failure.addSuppressed(e);
      }
    }
  }
}
