package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import dev.kvlog.internal.Text;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import org.sqlite.SQLiteConnection;
import org.sqlite.SQLiteLimits;

/**
 * Reads the whole {@code kv} table, strictly decoded, for the {@link WarmCache}. Stateless and
 * thread-safe; each read uses the connection it is given (one thread at a time, as JDBC requires)
 * and a parser thread of its own.
 *
 * <p><b>Loading.</b> sqlite-jdbc crosses JNI for every row and column, which costs far more than
 * SQLite's scan itself. So the table is read in chunks of at most {@value #CHUNK_ROWS} rows, each
 * concatenated by SQLite into one blob of length-prefixed UTF-8 fields and parsed here, all in one
 * read transaction (a consistent snapshot). The rows per chunk adapt to SQLite's own maximum length
 * and to a byte budget (see {@link #readChunks}); a row too large to share a chunk is read alone.
 * So any table SQLite accepts loads. The budget is at most 1/16 of the heap ({@link #budget}), and
 * while chunks are read SQLite's length limit on the connection is lowered to it, so a chunk that
 * would exceed it fails in SQLite (SQLITE_TOOBIG, in native memory) before it reaches the heap, and
 * is read again with fewer rows: rows per chunk learnt on tiny rows cannot fetch a blob of big rows
 * larger than the budget (a store of 8,192 tiny then 8,192 3,500-byte rows, which a 64 MB heap
 * holds, failed to open in it with "Out of memory"). Paging continues after the last key's exact
 * bytes, so a key that is not valid UTF-8 can never make the paging loop; such a key or value is
 * refused, strictly decoded, with a message naming it and the statement that repairs it: a Java
 * String cannot carry invalid UTF-8 unchanged, and a write decided on a replacement character would
 * be decided on a value the table does not hold.
 */
final class TableLoader {
  static final int CHUNK_ROWS = 8192;

  /**
   * Upper bound of the bytes a load holds in chunks at once; lowered to {@link #heapBudget()} and
   * to half of SQLite's length limit if those are less.
   */
  static final long CHUNK_BYTES = 32L << 20;

  /**
   * The lowest SQLITE_LIMIT_LENGTH a load sets while it reads chunks: keys are bound as parameters
   * and must not be refused for budgets far smaller than a key (tests use budgets of a few bytes).
   */
  static final long LIMIT_FLOOR = 256L << 10;

  /** Chunks a single-connection load may hold at once: the queue, the one parsed, the one read. */
  private static final int CHUNKS_IN_FLIGHT = 6;

  /** Per-row overhead of the chunk format: two decimal lengths and two commas. */
  private static final int ROW_OVERHEAD = 24;

  private static final String CHUNK =
      "SELECT CAST(group_concat(octet_length(key) || ',' || key"
          + " || octet_length(value) || ',' || value, '') AS BLOB), CAST(max(key) AS BLOB)"
          + " FROM (SELECT key, value FROM kv WHERE key %s CAST(?1 AS TEXT) ORDER BY key LIMIT ?2)";
  private static final String ONE_ROW =
      "SELECT CAST(key AS BLOB), CAST(value AS BLOB) FROM kv"
          + " WHERE key %s CAST(?1 AS TEXT) ORDER BY key LIMIT 1";
  private static final int SQLITE_TOOBIG = 18;

  private TableLoader() {}

  /** SQL work run inside the loading transaction. */
  @FunctionalInterface
  interface SqlRunnable {
    void run() throws SQLException;
  }

  /**
   * Reads the table chunk by chunk on this thread while a second thread parses the chunks into
   * {@code sink}: SQLite's work and the allocation of Strings overlap (on 2 cores, 1M entries load
   * in roughly the time of the slower half instead of the sum).
   *
   * @param ownTransaction whether to read in a transaction of its own; false if {@code c} is
   *     already in one (the writer reloads inside its write transaction)
   */
  static void readAll(
      Connection c,
      boolean ownTransaction,
      SqlRunnable inSnapshot,
      BiConsumer<String, String> sink,
      long chunkBytes)
      throws SQLException {
    BlockingQueue<Object> chunks = new ArrayBlockingQueue<>(CHUNKS_IN_FLIGHT - 2);
    Object end = new Object();
    AtomicReference<Throwable> parseFailure = new AtomicReference<>();
    Thread parser =
        new Thread(
            () -> {
              try {
                for (Object chunk; (chunk = chunks.take()) != end; ) {
                  if (chunk instanceof byte[]) {
                    parse((byte[]) chunk, sink);
                  } else {
                    byte[][] row = (byte[][]) chunk;
                    String key = decode(row[0], 0, row[0].length, null);
                    sink.accept(key, decode(row[1], 0, row[1].length, key));
                  }
                }
              } catch (Throwable e) {
                parseFailure.set(e);
                chunks.clear(); // unblock the reader, which then stops
              }
            },
            "kvlog-load");
    parser.setDaemon(true);
    parser.start();
    try {
      readChunks(
          c,
          ownTransaction,
          inSnapshot,
          Math.max(1, budget(c, chunkBytes) / CHUNKS_IN_FLIGHT),
          chunk -> {
            if (parseFailure.get() != null) {
              return false;
            }
            putUninterruptibly(chunks, chunk);
            return true;
          });
    } finally {
      putUninterruptibly(chunks, end);
      joinUninterruptibly(parser);
    }
    Throwable failure = parseFailure.get();
    if (failure instanceof CorruptValueException) {
      throw new CorruptValueException(failure.getMessage(), failure);
    }
    if (failure != null) {
      throw new IllegalStateException("cannot parse the table while loading it", failure);
    }
  }

  /** SQLite's maximum length of a string or blob on {@code c} (SQLITE_LIMIT_LENGTH). */
  static long lengthLimit(Connection c) throws SQLException {
    return setLengthLimit(c, -1);
  }

  /** Sets SQLITE_LIMIT_LENGTH on {@code c} ({@code -1}: leaves it) and returns the previous one. */
  static int setLengthLimit(Connection c, long limit) throws SQLException {
    return c.unwrap(SQLiteConnection.class)
        .getDatabase()
        .limit(SQLiteLimits.SQLITE_LIMIT_LENGTH.getId(), (int) Math.min(Integer.MAX_VALUE, limit));
  }

  /**
   * The bytes a load may hold in chunks at once, on {@code c}: {@code chunkBytes}, but at most 1/16
   * of the heap (a store that fits a small heap must load in it, whatever its rows' sizes) and half
   * of SQLite's length limit.
   */
  static long budget(Connection c, long chunkBytes) throws SQLException {
    return Math.max(1, Math.min(Math.min(chunkBytes, heapBudget()), lengthLimit(c) / 2));
  }

  /** 1/16 of the heap's maximum, at most {@link #CHUNK_BYTES}. */
  static long heapBudget() {
    return Math.min(CHUNK_BYTES, Runtime.getRuntime().maxMemory() / 16);
  }

  private static void putUninterruptibly(BlockingQueue<Object> queue, Object chunk) {
    boolean interrupted = false;
    for (; ; ) {
      try {
        queue.put(chunk);
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Joins {@code t}, keeping an interrupt for the caller to see afterwards. */
  static void joinUninterruptibly(Thread t) {
    boolean interrupted = false;
    for (; ; ) {
      try {
        t.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Receives chunks (a byte[] in the chunk format, or a byte[2][] row); false stops reading. */
  private interface ChunkSink {
    boolean accept(Object chunk);
  }

  /**
   * Reads chunks of rows in key order. The number of rows per chunk adapts: it halves when SQLite
   * refuses the concatenation as too big ({@code SQLITE_TOOBIG}, which leaves the read transaction
   * as it was) and shrinks when a chunk exceeds {@code budget}, and it grows back while chunks are
   * small; a row too big to concatenate even alone is read as a row. So what loads depends on
   * SQLite's own limit and nothing else, and chunks stay near the budget. (Bounding each chunk by a
   * running sum of lengths in SQL, a window function, made the load 2-3 times slower.)
   */
  private static void readChunks(
      Connection c, boolean ownTransaction, SqlRunnable inSnapshot, long budget, ChunkSink sink)
      throws SQLException {
    try (Statement s = c.createStatement()) {
      if (ownTransaction) {
        s.execute("BEGIN");
      }
      // A transaction of our own ends here whatever fails (say, kv was dropped): left open, it
      // would make the next BEGIN IMMEDIATE fail as if the write's outcome were unknown.
      boolean read = false;
      Statements st = null;
      int limit = -1; // SQLite's own length limit while it is lowered to the budget
      try {
        inSnapshot.run();
        limit = setLengthLimit(c, Math.max(budget, LIMIT_FLOOR));
        st = new Statements(c);
        byte[] after = new byte[0]; // paging by the exact bytes: invalid UTF-8 cannot loop
        boolean first = true;
        for (int rows = CHUNK_ROWS; ; first = false) {
          byte[] bytes;
          byte[] last;
          if (rows == 0) { // one row whose concatenation alone exceeds SQLite's limit
            PreparedStatement row = first ? st.firstRow : st.nextRow;
            row.setBytes(1, after);
            setLengthLimit(c, limit); // the row is in the table: SQLite's own limit admits it
            try (ResultSet rs = row.executeQuery()) {
              if (!rs.next()) {
                break;
              }
              last = rs.getBytes(1);
              if (!sink.accept(new byte[][] {last, rs.getBytes(2)})) {
                break;
              }
            } finally {
              setLengthLimit(c, Math.max(budget, LIMIT_FLOOR));
            }
            after = last;
            rows = 1;
            continue;
          }
          PreparedStatement chunk = first ? st.first : st.next;
          chunk.setBytes(1, after);
          chunk.setInt(2, rows);
          try (ResultSet rs = chunk.executeQuery()) {
            rs.next();
            bytes = rs.getBytes(1);
            last = rs.getBytes(2);
          } catch (SQLException e) {
            if (Errors.primaryCode(e) != SQLITE_TOOBIG) {
              throw e;
            }
            st.close(); // sqlite-jdbc finalizes a statement whose execution failed
            st = null;
            st = new Statements(c);
            rows /= 2;
            continue;
          }
          if (bytes == null || !sink.accept(bytes)) {
            break;
          }
          after = last;
          if (bytes.length > budget) {
            rows = (int) Math.max(1, rows * budget / bytes.length);
          } else if (bytes.length < budget / 4) {
            rows = Math.min(CHUNK_ROWS, rows * 2);
          }
        }
        read = true;
      } finally {
        if (st != null) {
          st.close();
        }
        if (limit != -1) {
          setLengthLimit(c, limit);
        }
        if (ownTransaction) {
          endTransaction(s, read);
        }
      }
    }
  }

  /** Commits after a complete read, else rolls back without hiding the failure. */
  private static void endTransaction(Statement s, boolean read) throws SQLException {
    if (read) {
      s.execute("COMMIT");
      return;
    }
    try {
      s.execute("ROLLBACK");
    } catch (SQLException e) {
      // SQLite may have ended the transaction itself; the read's own failure is what matters
    }
  }

  /** The statements of one load, re-prepared together after a failure. */
  private static final class Statements {
    final PreparedStatement first;
    final PreparedStatement next;
    final PreparedStatement firstRow;
    final PreparedStatement nextRow;

    Statements(Connection c) throws SQLException {
      first = c.prepareStatement(String.format(CHUNK, ">="));
      next = c.prepareStatement(String.format(CHUNK, ">"));
      firstRow = c.prepareStatement(String.format(ONE_ROW, ">="));
      nextRow = c.prepareStatement(String.format(ONE_ROW, ">"));
    }

    void close() {
      Resources.closeAll("cannot close the load's statements", first, next, firstRow, nextRow);
    }
  }

  /** Parses {@code <byte length>,<utf-8 key><byte length>,<utf-8 value>} repeated. */
  private static void parse(byte[] chunk, BiConsumer<String, String> sink) {
    parse(chunk, null, true, sink);
  }

  /**
   * {@link #parse(byte[], BiConsumer)} keeping only the rows whose key's bytes sort before {@code
   * cut} (after it if {@code below} is false), as SQLite's BINARY collation orders them; all rows
   * if {@code cut} is null. Rows left out are not decoded.
   */
  static void parse(byte[] chunk, byte[] cut, boolean below, BiConsumer<String, String> sink) {
    int p = 0;
    while (p < chunk.length) {
      int n = 0;
      for (byte b; (b = chunk[p++]) != ','; ) {
        n = n * 10 + (b - '0');
      }
      int keyAt = p;
      int keyLength = n;
      p += n;
      n = 0;
      for (byte b; (b = chunk[p++]) != ','; ) {
        n = n * 10 + (b - '0');
      }
      if (cut == null
          || Integer.signum(
                  Arrays.compareUnsigned(chunk, keyAt, keyAt + keyLength, cut, 0, cut.length))
              == (below ? -1 : 1)) {
        String key = decode(chunk, keyAt, keyLength, null);
        sink.accept(key, decode(chunk, p, n, key));
      }
      p += n;
    }
  }

  /**
   * A key ({@code key} null) or the value of {@code key}, read as {@code CAST(... AS BLOB)},
   * decoded strictly: for the row-by-row reads ({@link Database#forEachInRange}, {@link
   * KVLogReader#get}), which must refuse what the loader refuses, with the same message.
   *
   * @throws dev.kvlog.CorruptValueException if the bytes are not valid UTF-8
   */
  static String decodeStrictly(byte[] bytes, String key) {
    byte[] b = bytes == null ? new byte[0] : bytes; // sqlite-jdbc may give null for x''
    return decode(b, 0, b.length, key);
  }

  /**
   * Decodes UTF-8 strictly. The fast decoder replaces malformed input with U+FFFD, which valid text
   * may also contain, so only text containing it is decoded again with REPORT.
   *
   * @param key null when decoding a key, else the key whose value this is
   */
  private static String decode(byte[] bytes, int offset, int length, String key) {
    String text = new String(bytes, offset, length, StandardCharsets.UTF_8);
    if (text.indexOf('\uFFFD') >= 0) {
      try {
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(bytes, offset, length));
      } catch (CharacterCodingException e) {
        throw invalidUtf8(bytes, offset, length, key, e);
      }
    }
    return text;
  }

  private static CorruptValueException invalidUtf8(
      byte[] bytes, int offset, int length, String key, CharacterCodingException e) {
    String literal = hexLiteral(bytes, offset, length);
    if (key == null) {
      return new CorruptValueException(
          "key "
              + literal
              + " is not valid UTF-8, so KVLog cannot hold it as text (another tool wrote its"
              + " bytes); repair the row with sqlite3, e.g. UPDATE kv SET key = '<new key>' WHERE"
              + " key = CAST("
              + literal
              + " AS TEXT); or DELETE FROM kv WHERE key = CAST("
              + literal
              + " AS TEXT);",
          e);
    }
    String quoted = key.replace("'", "''");
    return new CorruptValueException(
        "value of key "
            + Text.excerpt(key)
            + " ("
            + (length > 64 ? "starts with " : "")
            + literal
            + ") is not valid UTF-8, so KVLog cannot hold it as text (another tool wrote its"
            + " bytes); repair the row with sqlite3, e.g. UPDATE kv SET value = '<new value>'"
            + " WHERE key = '"
            + quoted
            + "'; or DELETE FROM kv WHERE key = '"
            + quoted
            + "';",
        e);
  }

  /** {@code x'6bff'}; at most 64 bytes followed by "..." for longer input. */
  private static String hexLiteral(byte[] bytes, int offset, int length) {
    StringBuilder hex = new StringBuilder("x'");
    for (int i = offset; i < offset + Math.min(length, 64); i++) {
      hex.append(Character.forDigit((bytes[i] >> 4) & 0xf, 16))
          .append(Character.forDigit(bytes[i] & 0xf, 16));
    }
    return hex.append(length > 64 ? "...'" : "'").toString();
  }
}
