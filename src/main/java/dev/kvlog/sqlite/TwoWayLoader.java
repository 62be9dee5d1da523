package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * Loads the whole {@code kv} table at open on two connections at once: one reads chunks upwards
 * from the smallest key, the other downwards from the largest, until they meet. Each thread parses
 * its own chunks, so SQLite's work and the building of Strings are spread over two cores; no
 * sampling of split keys is needed and the halves balance themselves whatever the keys look like.
 *
 * <p><b>Invariant: every key is delivered exactly once, from one committed state.</b>
 *
 * <ul>
 *   <li>One state: a third connection takes SQLite's write lock ({@code BEGIN IMMEDIATE}) only
 *       while both readers begin a read transaction and read once; while it is held no connection
 *       (not even another process) can commit, so both pin the latest commit, the same one; then it
 *       rolls back, microseconds later, and WAL snapshot isolation keeps both readers on that state
 *       for the rest of the load while other writers commit freely (holding the lock for the whole
 *       load made every outside writer fail with "database is locked" for about a second per
 *       million rows). {@code inSnapshot} (which records {@code data_version}) runs in the first
 *       reader's transaction, so it names that state, and a commit made during the load moves
 *       {@code data_version} and is reloaded afterwards. If the write lock stays busy for a few
 *       brief tries (another process is writing), the load falls back to {@link
 *       TableLoader#readAll} on one connection.
 *   <li>Exactly once: the upward reader owns the keys up to {@code low}, the downward one those
 *       from {@code high} on ({@code low < high}), each extended only under {@link #lock}. A reader
 *       bounds its query by the other's claim when it starts it; if, when the chunk returns, the
 *       chunk reached the other's claim (or the range between them was exhausted), it keeps only
 *       the keys short of that claim and the load is done: everything between the two claims was in
 *       that chunk. A chunk that returns after the load is done lies wholly in claimed ranges and
 *       is dropped. Keys are compared as SQLite's BINARY collation does: unsigned bytes.
 * </ul>
 *
 * <p>Chunks are {@link TableLoader}'s format, with its adaptation to SQLite's length limit and to a
 * byte budget. Not thread-safe; one instance per load.
 */
final class TwoWayLoader {
  /** Receives the rows; told an estimate of their number first, to size the map once. */
  @FunctionalInterface
  interface Target {
    /**
     * Returns the source of sinks for about {@code expectedRows} rows; called once, before any row.
     * The loader takes one sink per reading thread (two, or one on the single-connection path), and
     * each sink is called by its thread only; the sinks together receive each key exactly once, and
     * every row is delivered before {@link #readAll} returns.
     */
    Supplier<BiConsumer<String, String>> sinks(int expectedRows);
  }

  private static final int SQLITE_BUSY = 5;
  private static final int SQLITE_TOOBIG = 18;

  /** Tries for the write lock that pins the snapshot, 1, 2, 4, 8 ms apart, before loading alone. */
  private static final int PIN_ATTEMPTS = 5;

  private static final long MIN_ENTRY_BYTES = 128;

  private final Object lock = new Object();

  /**
   * Held by a reader from before it reads a row alone (too big to share a chunk) until it has
   * claimed it, so the two readers never hold one big row in memory at once.
   */
  private final ReentrantLock alone = new ReentrantLock();

  private byte[] low; // the upward reader's last claimed key; null: nothing claimed yet
  private byte[] high; // the downward reader's last claimed key; null: nothing claimed yet
  private boolean done;
  private final long budget;
  private final int maxRows;

  /**
   * Test hook: called with (upward?, "queried" or "claimed") after each query and each claim, and
   * with (true, "pinning") while the write lock is held between the two readers' first reads.
   */
  static volatile BiConsumer<Boolean, String> hookForTests;

  private TwoWayLoader(long budget, int maxRows) {
    this.budget = budget;
    this.maxRows = maxRows;
  }

  /**
   * Reads the table on {@code c} (auto-commit, not in a transaction) and on {@code helper} (the
   * same, or null to read on {@code c} alone), pinning their common snapshot with {@code pinner} (a
   * third connection to the same file, auto-commit; null: read on {@code c} alone).
   *
   * @throws CorruptValueException if a key or value is not valid UTF-8
   */
  static void readAll(
      Connection c,
      Connection helper,
      Connection pinner,
      TableLoader.SqlRunnable inSnapshot,
      Target target,
      long chunkBytes)
      throws SQLException {
    readAll(c, helper, pinner, inSnapshot, target, chunkBytes, TableLoader.CHUNK_ROWS);
  }

  /** {@link #readAll} with chunks of at most {@code maxRows} rows: tests use small chunks. */
  static void readAll(
      Connection c,
      Connection helper,
      Connection pinner,
      TableLoader.SqlRunnable inSnapshot,
      Target target,
      long chunkBytes,
      int maxRows)
      throws SQLException {
    long budget = Math.max(1, TableLoader.budget(c, chunkBytes) / 2); // per reader
    if (helper == null || pinner == null || !pin(pinner, c, helper)) {
      TableLoader.readAll(c, true, inSnapshot, target.sinks(0).get(), chunkBytes);
      return;
    }
    boolean read = false;
    try {
      inSnapshot.run(); // in c's read transaction: the pinned state, whatever commits since
      new TwoWayLoader(budget, maxRows).run(c, helper, target);
      read = true;
    } finally {
      try {
        end(helper, read); // the down thread was joined
      } finally {
        end(c, read);
      }
    }
  }

  /**
   * Starts read transactions on {@code c} and {@code helper} at the same, latest committed state,
   * holding SQLite's write lock on {@code pinner} only while they start (microseconds): while it is
   * held nobody can commit, so both see the same commit; once both have read, WAL snapshot
   * isolation keeps them there without any lock, and other writers commit freely during the load.
   * False, with no transaction open, if the write lock stayed busy for a few brief tries.
   */
  private static boolean pin(Connection pinner, Connection c, Connection helper)
      throws SQLException {
    for (int attempt = 0; ; attempt++) {
      if (beginImmediateNow(pinner)) {
        break;
      }
      if (attempt + 1 == PIN_ATTEMPTS || !pause(1L << attempt)) {
        return false; // another connection keeps writing: load on one connection instead
      }
    }
    boolean pinned = false;
    try {
      beginReading(c);
      hook(true, "pinning"); // the write lock held, one reader's snapshot taken
      beginReading(helper);
      try (Statement s = pinner.createStatement()) {
        s.execute("ROLLBACK"); // wrote nothing
      }
      pinned = true;
    } finally {
      if (!pinned) { // nothing stays open, not even the write lock
        end(pinner, false);
        end(helper, false);
        end(c, false);
      }
    }
    return true;
  }

  private static void hook(boolean up, String event) {
    BiConsumer<Boolean, String> hook = hookForTests;
    if (hook != null) {
      hook.accept(up, event);
    }
  }

  /** BEGIN and a first read, which is what fixes a WAL read transaction's snapshot. */
  private static void beginReading(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("BEGIN");
      s.executeQuery("SELECT 1 FROM sqlite_schema LIMIT 1").close();
    }
  }

  /** Sleeps {@code millis}; false, the interrupt flag restored, if interrupted. */
  private static boolean pause(long millis) {
    try {
      Thread.sleep(millis);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Ends a read transaction; after a failure, quietly (the failure is what matters). */
  private static void end(Connection c, boolean read) throws SQLException {
    try (Statement s = c.createStatement()) {
      if (read) {
        s.execute("COMMIT"); // nothing written: no WAL frame, no sync
      } else {
        try {
          s.execute("ROLLBACK");
        } catch (SQLException e) {
          // the load's own failure is what matters
        }
      }
    }
  }

  /** {@code BEGIN IMMEDIATE} if SQLite's write lock is free right now, without waiting for it. */
  private static boolean beginImmediateNow(Connection c) throws SQLException {
    String timeout = Database.pragma(c, "busy_timeout");
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA busy_timeout = 0");
      try {
        s.execute("BEGIN IMMEDIATE");
        return true;
      } catch (SQLException e) {
        if (Errors.primaryCode(e) == SQLITE_BUSY) {
          return false;
        }
        throw e;
      } finally {
        s.execute("PRAGMA busy_timeout = " + Long.parseLong(timeout));
      }
    }
  }

  private void run(Connection c, Connection helper, Target target) throws SQLException {
    Side up = new Side(c, true);
    try {
      run(up, helper, target);
    } finally {
      up.close();
      up.restoreLimit();
    }
  }

  private void run(Side up, Connection helper, Target target) throws SQLException {
    Chunk first = up.next();
    Supplier<BiConsumer<String, String>> sinks =
        target.sinks(estimateRows(up.c, first.count, first.limit, first.bytes, heapCap()));
    BiConsumer<String, String> sink = sinks.get();
    if (!up.claim(first, sink)) {
      return; // the whole table was in the first chunk
    }
    Side down = new Side(helper, false);
    BiConsumer<String, String> downSink = sinks.get(); // the down thread's own
    Throwable[] downFailure = new Throwable[1];
    Thread other =
        new Thread(
            () -> {
              try {
                down.readAll(downSink); // in helper's pinned read transaction
              } catch (Throwable e) {
                downFailure[0] = e;
                stop();
              } finally {
                down.close();
                try {
                  down.restoreLimit();
                } catch (Throwable e) {
                  if (downFailure[0] == null) {
                    downFailure[0] = e;
                  }
                }
              }
            },
            "kvlog-load-down");
    other.setDaemon(true);
    other.start();
    Throwable upFailure = null;
    try {
      up.readAll(sink);
    } catch (Throwable e) {
      upFailure = e;
      stop();
    } finally {
      up.close();
      TableLoader.joinUninterruptibly(other);
    }
    rethrow(upFailure != null ? upFailure : downFailure[0]);
  }

  private static void rethrow(Throwable failure) throws SQLException {
    if (failure == null) {
      return;
    }
    if (failure instanceof CorruptValueException) {
      throw new CorruptValueException(failure.getMessage(), failure); // this thread's stack too
    }
    if (failure instanceof SQLException) {
      throw (SQLException) failure;
    }
    if (failure instanceof RuntimeException) {
      throw (RuntimeException) failure;
    }
    if (failure instanceof Error) {
      throw (Error) failure;
    }
    throw new IllegalStateException("cannot load the table", failure);
  }

  /**
   * Rows in the table, estimated from the bytes of its used pages (free pages are left out: a store
   * that once held much more keeps them until a VACUUM) and the first chunk's bytes per row; too
   * high rather than too low (pages are not full), but never more rows than a fraction of the free
   * heap could hold, since the first chunk's rows may be far smaller than the rest. An estimate too
   * low costs only the growing of buffers.
   *
   * @param cap the most rows to estimate ({@link #heapCap()})
   */
  static int estimateRows(Connection c, int count, int limit, long chunkBytes, long cap)
      throws SQLException {
    if (count < limit) {
      return count;
    }
    long pages =
        Long.parseLong(Database.pragma(c, "page_count"))
            - Long.parseLong(Database.pragma(c, "freelist_count"));
    long bytes = Math.max(0, pages) * Long.parseLong(Database.pragma(c, "page_size"));
    long perRow = Math.max(1, chunkBytes / Math.max(1, count));
    return (int) Math.max(count, Math.min(bytes / perRow, cap));
  }

  /**
   * Rows worth presizing for: each entry holds at least two Strings (over 80 bytes), so more rows
   * than the free heap / {@value #MIN_ENTRY_BYTES} cannot load anyway, and the presized buffers
   * (two references per row) then take at most 1/16 of that heap (1/8 without compressed
   * references).
   */
  static long heapCap() {
    Runtime r = Runtime.getRuntime();
    long free = r.maxMemory() - (r.totalMemory() - r.freeMemory());
    return Math.min(1 << 28, Math.max(0, free) / MIN_ENTRY_BYTES);
  }

  private void stop() {
    synchronized (lock) {
      done = true;
    }
  }

  /** One query's result: rows in the chunk format or one row, and the last key it reached. */
  private static final class Chunk {
    Object data; // byte[] chunk format, byte[2][] one row, or null: no rows
    byte[] edge; // the last key in reading order
    int count;
    int limit;
    long bytes;
    boolean alone; // read alone, with {@link #alone} held until claimed
  }

  /** One direction of reading, on one connection. */
  private final class Side {
    private final Connection c;
    private final boolean up;
    private final Map<String, PreparedStatement> statements = new HashMap<>();
    private byte[] after; // own frontier: the last key read; null before the first chunk
    private int rows = maxRows;
    private int limit = -1; // c's own SQLITE_LIMIT_LENGTH while reading lowers it to the budget

    Side(Connection c, boolean up) {
      this.c = c;
      this.up = up;
    }

    void readAll(BiConsumer<String, String> sink) throws SQLException {
      for (; ; ) {
        Chunk chunk = next();
        if (chunk == null || !claim(chunk, sink)) {
          return;
        }
      }
    }

    /**
     * Claims what {@code chunk} covers and delivers its rows; false if the load is complete. See
     * the class comment for why each key is delivered once.
     */
    boolean claim(Chunk chunk, BiConsumer<String, String> sink) {
      try {
        return claimHeld(chunk, sink);
      } finally {
        if (chunk.alone) {
          alone.unlock();
        }
      }
    }

    private boolean claimHeld(Chunk chunk, BiConsumer<String, String> sink) {
      byte[] cut;
      boolean last;
      synchronized (lock) {
        if (done) {
          return false;
        }
        byte[] other = up ? high : low;
        last =
            chunk.count < chunk.limit
                || (other != null && Arrays.compareUnsigned(chunk.edge, other) * sign() >= 0);
        cut = last ? other : null;
        if (last) {
          done = true;
        } else if (up) {
          low = chunk.edge;
        } else {
          high = chunk.edge;
        }
      }
      if (chunk.data instanceof byte[]) {
        TableLoader.parse((byte[]) chunk.data, cut, up, sink);
      } else if (chunk.data != null) {
        byte[][] row = (byte[][]) chunk.data;
        if (cut == null || Arrays.compareUnsigned(row[0], cut) * sign() < 0) {
          String key = TableLoader.decodeStrictly(row[0], null);
          sink.accept(key, TableLoader.decodeStrictly(row[1], key));
        }
      }
      if (!last) {
        after = chunk.edge;
        adapt(chunk.bytes);
      }
      hook("claimed");
      return !last;
    }

    private void hook(String event) {
      TwoWayLoader.hook(up, event);
    }

    private int sign() {
      return up ? 1 : -1;
    }

    /** The next chunk beyond {@link #after}, bounded by the other side's claim; null if done. */
    Chunk next() throws SQLException {
      byte[] bound;
      synchronized (lock) {
        if (done) {
          return null;
        }
        bound = up ? high : low;
      }
      if (limit == -1) {
        limit = TableLoader.setLengthLimit(c, Math.max(budget, TableLoader.LIMIT_FLOOR));
      }
      for (; ; ) {
        if (rows == 0) {
          return oneRow();
        }
        PreparedStatement p = statement(chunkSql(bound != null));
        bind(p, bound);
        p.setInt(2, rows);
        try (ResultSet rs = p.executeQuery()) {
          rs.next();
          Chunk chunk = new Chunk();
          chunk.data = rs.getBytes(1);
          chunk.edge = rs.getBytes(2);
          chunk.count = rs.getInt(3);
          chunk.limit = rows;
          chunk.bytes = chunk.data == null ? 0 : ((byte[]) chunk.data).length;
          hook("queried");
          return chunk;
        } catch (SQLException e) {
          if (Errors.primaryCode(e) != SQLITE_TOOBIG) {
            throw e;
          }
          close(); // sqlite-jdbc finalizes a statement whose execution failed
          rows /= 2;
        }
      }
    }

    /**
     * One row whose concatenation alone exceeds the budget, read with SQLite's own length limit
     * (the row is in the table, so it admits it) and with {@link #alone} held until it is claimed:
     * the other reader may be about to read the same row alone, and waits, then finds it claimed.
     */
    private Chunk oneRow() throws SQLException {
      alone.lock();
      boolean held = false;
      try {
        byte[] bound;
        synchronized (lock) {
          if (done) {
            return null;
          }
          bound = up ? high : low; // after the other reader's claim, if it took this row
        }
        PreparedStatement p = statement(rowSql(bound != null));
        bind(p, bound);
        Chunk chunk = new Chunk();
        chunk.limit = 1;
        TableLoader.setLengthLimit(c, limit);
        try (ResultSet rs = p.executeQuery()) {
          if (rs.next()) {
            byte[] key = rs.getBytes(1);
            chunk.data = new byte[][] {key, rs.getBytes(2)};
            chunk.edge = key;
            chunk.count = 1;
            chunk.bytes = key.length;
          }
        } finally {
          TableLoader.setLengthLimit(c, Math.max(budget, TableLoader.LIMIT_FLOOR));
        }
        hook("queried");
        chunk.alone = true;
        held = true;
        return chunk;
      } finally {
        if (!held) {
          alone.unlock();
        }
      }
    }

    private void adapt(long bytes) {
      if (rows == 0) {
        rows = 1;
      } else if (bytes > budget) {
        rows = (int) Math.max(1, rows * budget / bytes);
      } else if (bytes < budget / 4) {
        rows = Math.min(maxRows, rows * 2);
      }
    }

    private void bind(PreparedStatement p, byte[] bound) throws SQLException {
      p.setBytes(1, after == null ? new byte[0] : after);
      if (bound != null) {
        p.setBytes(3, bound);
      }
    }

    /** ?1 own frontier, ?2 rows, ?3 the other side's claim. */
    private String range(boolean bounded) {
      String from =
          after == null
              ? (up ? "key >= CAST(?1 AS TEXT)" : "?1 IS NOT NULL")
              : (up ? "key > CAST(?1 AS TEXT)" : "key < CAST(?1 AS TEXT)");
      String to =
          !bounded ? "" : (up ? " AND key < CAST(?3 AS TEXT)" : " AND key > CAST(?3 AS TEXT)");
      return " FROM kv WHERE " + from + to + " ORDER BY key" + (up ? "" : " DESC");
    }

    private String chunkSql(boolean bounded) {
      return "SELECT CAST(group_concat(octet_length(key) || ',' || key"
          + " || octet_length(value) || ',' || value, '') AS BLOB), CAST("
          + (up ? "max" : "min")
          + "(key) AS BLOB), count(*) FROM (SELECT key, value"
          + range(bounded)
          + " LIMIT ?2)";
    }

    private String rowSql(boolean bounded) {
      return "SELECT CAST(key AS BLOB), CAST(value AS BLOB)" + range(bounded) + " LIMIT 1";
    }

    private PreparedStatement statement(String sql) throws SQLException {
      PreparedStatement p = statements.get(sql);
      if (p == null) {
        p = c.prepareStatement(sql);
        statements.put(sql, p);
      }
      return p;
    }

    void close() {
      Resources.closeAll(
          "cannot close the load's statements", statements.values().toArray(new AutoCloseable[0]));
      statements.clear();
    }

    /** Gives {@link #c} its own length limit back; at the end of the load only. */
    void restoreLimit() throws SQLException {
      if (limit != -1) {
        TableLoader.setLengthLimit(c, limit);
        limit = -1;
      }
    }
  }
}
