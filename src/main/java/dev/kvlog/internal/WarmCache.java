package dev.kvlog.internal;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;

/**
 * The whole table in memory, as the encoded text the database holds. Strings are immutable, so no
 * caller can change a cached entry; codecs decode a fresh object on every read.
 *
 * <p>Invariant: only the {@link CommitLog} changes the cache, after the commit that made the change
 * durable and while it still holds the writer lock. So a reader never sees a change a crash could
 * lose, and the cache equals the table whenever no write is in flight.
 *
 * <p><b>Representation.</b> A {@link ConcurrentHashMap} of Strings: a read is one lookup with no
 * allocation and no decoding, and for Latin-1 text (compact strings) an entry of a 16-byte key and
 * a 100-byte value costs about 2.1 times its raw bytes. A byte arena would cost about 1.2 times but
 * would decode a new String on every read; we chose fast reads.
 *
 * <p><b>Loading.</b> sqlite-jdbc crosses JNI for every row and column, which costs far more than
 * SQLite's scan itself. So the table is read in chunks of {@value #CHUNK_ROWS} rows, each
 * concatenated by SQLite into one blob of length-prefixed UTF-8 fields and parsed here, all in one
 * read transaction (a consistent snapshot).
 */
public final class WarmCache {
  static final int CHUNK_ROWS = 8192;
  private static final String CHUNK =
      "SELECT CAST(group_concat(length(CAST(key AS BLOB)) || ',' || key"
          + " || length(CAST(value AS BLOB)) || ',' || value, '') AS BLOB), max(key)"
          + " FROM (SELECT key, value FROM kv WHERE key %s ? ORDER BY key LIMIT "
          + CHUNK_ROWS
          + ")";

  private final ConcurrentHashMap<String, String> map;

  private WarmCache(ConcurrentHashMap<String, String> map) {
    this.map = map;
  }

  /**
   * Reads the whole {@code kv} table in one read transaction on {@code c}, which must be in
   * auto-commit mode and not in a transaction. Calls {@code inSnapshot} inside that transaction
   * (the commit log reads {@code data_version} there, so it knows which state the cache holds).
   */
  public static WarmCache load(Connection c, SqlRunnable inSnapshot) throws SQLException {
    ConcurrentHashMap<String, String> map = new ConcurrentHashMap<>();
    readAll(c, inSnapshot, map::put);
    return new WarmCache(map);
  }

  /** SQL work run inside the loading transaction. */
  @FunctionalInterface
  public interface SqlRunnable {
    void run() throws SQLException;
  }

  /**
   * Reads the table chunk by chunk on this thread while a second thread parses the chunks into
   * {@code sink}: SQLite's work and the allocation of Strings overlap (on 2 cores, 1M entries load
   * in roughly the time of the slower half instead of the sum).
   */
  private static void readAll(Connection c, SqlRunnable inSnapshot, BiConsumer<String, String> sink)
      throws SQLException {
    BlockingQueue<byte[]> chunks = new ArrayBlockingQueue<>(4);
    AtomicReference<Throwable> parseFailure = new AtomicReference<>();
    Thread parser =
        new Thread(
            () -> {
              try {
                for (byte[] chunk; (chunk = chunks.take()).length > 0; ) {
                  parse(chunk, sink);
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
          inSnapshot,
          chunk -> {
            if (parseFailure.get() != null) {
              return false;
            }
            putUninterruptibly(chunks, chunk);
            return true;
          });
    } finally {
      putUninterruptibly(chunks, new byte[0]);
      joinUninterruptibly(parser);
    }
    Throwable failure = parseFailure.get();
    if (failure != null) {
      throw new IllegalStateException("cannot parse the table while loading it", failure);
    }
  }

  private static void putUninterruptibly(BlockingQueue<byte[]> queue, byte[] chunk) {
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

  private static void joinUninterruptibly(Thread t) {
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

  /** Receives chunks; returns false to stop reading. */
  private interface ChunkSink {
    boolean accept(byte[] chunk);
  }

  private static void readChunks(Connection c, SqlRunnable inSnapshot, ChunkSink sink)
      throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("BEGIN");
      try (PreparedStatement first = c.prepareStatement(String.format(CHUNK, ">="));
          PreparedStatement next = c.prepareStatement(String.format(CHUNK, ">"))) {
        inSnapshot.run();
        PreparedStatement chunk = first;
        String after = "";
        for (; ; ) {
          chunk.setString(1, after);
          byte[] bytes;
          try (ResultSet rs = chunk.executeQuery()) {
            rs.next();
            bytes = rs.getBytes(1);
            after = rs.getString(2);
          }
          if (bytes == null || !sink.accept(bytes)) {
            break;
          }
          chunk = next;
        }
      } finally {
        s.execute("COMMIT");
      }
    }
  }

  /** Parses {@code <byte length>,<utf-8 key><byte length>,<utf-8 value>} repeated. */
  private static void parse(byte[] chunk, BiConsumer<String, String> sink) {
    int p = 0;
    while (p < chunk.length) {
      int n = 0;
      for (byte b; (b = chunk[p++]) != ','; ) {
        n = n * 10 + (b - '0');
      }
      String key = new String(chunk, p, n, StandardCharsets.UTF_8);
      p += n;
      n = 0;
      for (byte b; (b = chunk[p++]) != ','; ) {
        n = n * 10 + (b - '0');
      }
      String value = new String(chunk, p, n, StandardCharsets.UTF_8);
      p += n;
      sink.accept(key, value);
    }
  }

  /**
   * Brings the cache in line with the table after another connection changed it: one consistent
   * read, then only the entries that differ are replaced or removed, so concurrent readers see
   * every unchanged key throughout. Returns the number of keys that changed.
   */
  int reloadFrom(Connection c, SqlRunnable inSnapshot) throws SQLException {
    Map<String, String> rows = new ConcurrentHashMap<>(map.size() * 4 / 3 + 16);
    readAll(c, inSnapshot, rows::put);
    int changed = 0;
    for (Map.Entry<String, String> e : rows.entrySet()) {
      if (!e.getValue().equals(map.put(e.getKey(), e.getValue()))) {
        changed++;
      }
    }
    for (String key : map.keySet()) {
      if (!rows.containsKey(key)) {
        map.remove(key);
        changed++;
      }
    }
    return changed;
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
