package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import dev.kvlog.spi.Backend;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.AbstractMap;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * A pinned scan: one SELECT on one pooled connection, whose read transaction (and so its snapshot,
 * and the WAL frames it needs) lasts until the statement is closed.
 *
 * <p><b>Invariant: the snapshot is one no later {@code get} contradicts.</b> The statement is
 * started, and its first row read, inside {@link SqliteWriter#readConsistent}, whose explicit read
 * transaction takes the snapshot under the publication lock and which reloads other connections'
 * commits before it returns. Its COMMIT ends the explicit transaction but not the snapshot: SQLite
 * keeps a read transaction open for as long as a statement on the connection is still reading (a
 * pending SELECT does not block COMMIT; the connection drops to auto-commit and the statement goes
 * on in the same snapshot). So the rows come from that one snapshot until {@link #close}.
 *
 * <p>Not thread-safe: the facade serializes its use and its close.
 */
final class SqliteCursor implements Backend.Cursor {
  private final Path file;
  private final Connection connection;
  private final PreparedStatement statement;
  private final ResultSet rows;
  private byte[] nextKey; // the row read ahead, raw; null when exhausted
  private byte[] nextValue;
  private boolean closed;

  private SqliteCursor(
      Path file, Connection connection, PreparedStatement statement, ResultSet rows) {
    this.file = file;
    this.connection = connection;
    this.statement = statement;
    this.rows = rows;
  }

  /** Opens the cursor, its snapshot taken now, and reads its first row. */
  static SqliteCursor open(
      Database database, SqliteWriter writer, Path file, String from, String to) {
    Connection c = null;
    SqliteCursor cursor = null;
    try {
      c = database.connection();
      Connection connection = c;
      cursor =
          writer.readConsistent(
              c,
              snapshot -> {
                PreparedStatement s = Database.prepareRange(snapshot, from, to, null, false);
                try {
                  Database.bind(s, from, to, null);
                  SqliteCursor opened = new SqliteCursor(file, connection, s, s.executeQuery());
                  opened.advance(); // the first step: inside the read transaction
                  return opened;
                } catch (SQLException | RuntimeException e) {
                  s.close();
                  throw e;
                }
              });
      return cursor;
    } catch (SQLException | RuntimeException e) {
      if (cursor != null) {
        cursor.closeQuietly(e);
      } else if (c != null) {
        try {
          c.close();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      if (e instanceof SQLException) {
        throw new KVLogException(Errors.describe(file, (SQLException) e), e);
      }
      throw (RuntimeException) e;
    }
  }

  @Override
  public boolean hasNext() {
    return nextKey != null;
  }

  /**
   * Decodes the row read ahead and reads the next one: a row that is not valid UTF-8 fails here,
   * when it is due, after every row before it was returned.
   *
   * @throws dev.kvlog.CorruptValueException if the row's key or value is not valid UTF-8
   */
  @Override
  public Map.Entry<String, String> next() {
    if (nextKey == null) {
      throw new NoSuchElementException();
    }
    String key = TableLoader.decodeStrictly(nextKey, null);
    Map.Entry<String, String> entry =
        new AbstractMap.SimpleImmutableEntry<>(key, TableLoader.decodeStrictly(nextValue, key));
    try {
      advance();
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(file, e), e);
    }
    return entry;
  }

  private void advance() throws SQLException {
    if (closed || !rows.next()) {
      nextKey = null;
      nextValue = null;
      return;
    }
    nextKey = rows.getBytes(1);
    nextValue = rows.getBytes(2);
  }

  /** Ends the statement, so its read transaction, and returns the connection to the pool. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    nextKey = null;
    nextValue = null;
    KVLogException failure = null;
    try {
      statement.close(); // closes the ResultSet: the read transaction ends here
    } catch (SQLException e) {
      failure = new KVLogException(Errors.describe(file, e), e);
    }
    try {
      connection.close();
    } catch (SQLException e) {
      if (failure == null) {
        failure = new KVLogException(Errors.describe(file, e), e);
      } else {
        failure.addSuppressed(e);
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  private void closeQuietly(Exception cause) {
    try {
      close();
    } catch (RuntimeException e) {
      cause.addSuppressed(e);
    }
  }
}
