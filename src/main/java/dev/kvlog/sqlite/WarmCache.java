package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import java.lang.invoke.VarHandle;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.BiConsumer;

/**
 * The whole table in memory, as the encoded text the database holds. Strings are immutable, so no
 * caller can change a cached entry; codecs decode a fresh object on every read. Thread-safe: one
 * writer (the {@link SqliteWriter}, under its lock), any number of readers.
 *
 * <p>Invariant (durability): only the {@link SqliteWriter} changes the cache, after the commit that
 * made the change durable and while it still holds the writer lock. So a reader never sees a change
 * a crash could lose, and the cache equals the table whenever no write is in flight.
 *
 * <p>Invariant (atomic visibility): every committed transaction (a group, a batch, or the
 * difference a reload found) is published by one {@link #publish} call, and no reader of {@link
 * #get} or {@link #size} ever returns a state in the middle of one. This is a seqlock: {@code seq}
 * is odd while a publication is in progress; a reader reads {@code seq}, looks up, re-reads {@code
 * seq}, and retries if it was odd or moved. A reader that saw any entry of a publication therefore
 * saw its odd write, and retries until the publication is complete. The table's writes are plain
 * stores, so the fences carry the order (as in {@link java.util.concurrent.locks.StampedLock}'s
 * optimistic reads): the writer's full fence after the odd write keeps its stores after it, the
 * even write is a release, and the reader's load-load fence keeps its table reads before its second
 * read of {@code seq}. Keys and values are Strings (final fields), so a racing reader never sees a
 * half-built one; {@link CacheTable} never throws or loops forever on a torn state. Cost: two
 * volatile reads per {@code get}, no allocation, no lock; writers never wait for readers.
 *
 * <p><b>How long a reader can wait.</b> A {@code get} retries only while a publication is in
 * progress, so its wait is the publication's length, and that is bounded by the number of changes:
 * {@link CacheTable} keeps every probe run within {@link CacheTable#RUN_LIMIT} slots (keys made to
 * collide switch it to a seeded hash), so each change costs at most about {@code 2 * RUN_LIMIT}
 * probes, plus, at most once in the table's life, one rebuild of every entry, plus growth. (Before
 * that defence, a batch of 65,536 keys of one hashCode held readers for 2.3 s.) Between two
 * publications the writer commits (an fsync) or reads a reload, while a lookup visits at most
 * {@code RUN_LIMIT} slots, so a reader is not starved by back-to-back publications either.
 *
 * <p><b>Representation.</b> A {@link CacheTable} (open addressing, hashes in an {@code int[]}, key
 * and value side by side) of Strings: a read is one probe with no allocation and no decoding, and
 * for Latin-1 text (compact strings) an entry of a 16-byte key and a 100-byte value costs about 2.0
 * times its raw bytes (the suite: 229 bytes per entry at 1M, against 234 for a ConcurrentHashMap).
 *
 * <p><b>Loading</b> is {@link TwoWayLoader}'s (two connections from both ends of the key order,
 * {@link TableLoader}'s chunks: byte-bounded and strictly UTF-8) into a {@link Bulk}, which sizes
 * the table once.
 */
final class WarmCache implements TableCache {
  private final CacheTable map;
  private volatile long
      seq; // odd while publishing; written only by the SqliteWriter, under its lock

  private WarmCache(CacheTable map) {
    this.map = map;
  }

  /**
   * Reads the whole {@code kv} table in one read transaction on {@code c}, which must be in
   * auto-commit mode and not in a transaction. Calls {@code inSnapshot} inside that transaction
   * (the writer reads {@code data_version} there, so it knows which state the cache holds).
   *
   * @throws CorruptValueException if a key or value is not valid UTF-8
   */
  static WarmCache load(Connection c, TableLoader.SqlRunnable inSnapshot) throws SQLException {
    return load(c, null, null, inSnapshot, TableLoader.CHUNK_BYTES);
  }

  /** {@link #load} with a chunk budget of at most {@code chunkBytes}: tests use small budgets. */
  static WarmCache load(Connection c, TableLoader.SqlRunnable inSnapshot, long chunkBytes)
      throws SQLException {
    return load(c, null, null, inSnapshot, chunkBytes);
  }

  /**
   * {@link #load} reading on {@code helper} too (a second connection to the same file, in
   * auto-commit mode; null: {@code c} alone), the snapshot pinned with {@code pinner} (a third such
   * connection, which holds the write lock for microseconds), see {@link TwoWayLoader}. The table
   * is sized once for the loader's estimate of the rows and filled by both reading threads at once
   * ({@link Bulk}).
   */
  static WarmCache load(
      Connection c,
      Connection helper,
      Connection pinner,
      TableLoader.SqlRunnable inSnapshot,
      long chunkBytes)
      throws SQLException {
    Bulk[] bulk = new Bulk[1];
    TwoWayLoader.readAll(
        c,
        helper,
        pinner,
        inSnapshot,
        expectedRows -> {
          bulk[0] = new Bulk(expectedRows);
          return bulk[0]::sink;
        },
        chunkBytes);
    return bulk[0].finish(); // readAll joined every reading thread
  }

  /** A cache holding {@code entries}, for tests and benchmarks of the cache alone. */
  static WarmCache of(Map<String, String> entries) {
    Bulk bulk = new Bulk();
    entries.forEach(bulk.sink());
    return bulk.finish();
  }

  /**
   * A bulk load from several threads into a table sized once. Contract: each loading thread takes
   * its own {@link #sink()} and only it calls that sink; the sinks together receive each key at
   * most once (a snapshot of a table with a primary key); every {@code accept} happens-before
   * {@code finish()} (e.g. the loaders were joined); {@code finish()} is called once. Nothing is
   * visible to readers before {@code finish()} returns the cache.
   *
   * <p>Why it buffers: inserting each row into the table as it arrives touches two random cache
   * lines (and TLB pages) of arrays of tens of MB per row; measured at 1M rows, the two-way load
   * then took about 0.4 s longer than filling a presized ConcurrentHashMap. So each sink appends
   * its rows to {@value #PARTS} buffers by the top bits of their hash, which are the top bits of
   * their home slot; {@code finish()} sizes the table once for the exact count and inserts the
   * buffers partition by partition, so the inserts of one partition stay within 1/{@value #PARTS}
   * of the arrays (a few hundred KB at 1M entries: cache hits), in slot order.
   */
  static final class Bulk {
    private static final int PART_BITS = 6;
    private static final int PARTS = 1 << PART_BITS;
    private final int initialPerPart;
    private final ConcurrentLinkedQueue<Sink> sinks = new ConcurrentLinkedQueue<>();

    /** A bulk load with no estimate of its size. */
    Bulk() {
      this(0);
    }

    /** A bulk load of about {@code expected} entries (sizes the buffers; any count works). */
    Bulk(int expected) {
      initialPerPart = Math.max(8, (int) Math.min(1 << 20, expected / 2L / PARTS + 1));
    }

    /** A sink for one loading thread. */
    BiConsumer<String, String> sink() {
      Sink sink = new Sink();
      sinks.add(sink);
      return sink;
    }

    /**
     * One loading thread's sink. Its buffers, written on every row, are allocated by the loading
     * thread on its first row, in its own allocation buffer, not next to another sink's.
     */
    private final class Sink implements BiConsumer<String, String> {
      private Parts parts; // null until the first row

      @Override
      public void accept(String key, String value) {
        Parts p = parts;
        if (p == null) {
          parts = p = new Parts(initialPerPart);
        }
        p.add(key, value);
      }
    }

    /** Key, value pairs by the top {@link #PART_BITS} bits of their hash. */
    private static final class Parts {
      final Object[][] pairs = new Object[PARTS][];
      final int[] counts = new int[PARTS]; // pairs in each, times 2
      int size;

      Parts(int perPart) {
        for (int i = 0; i < PARTS; i++) {
          pairs[i] = new Object[2 * perPart];
        }
      }

      void add(String key, String value) {
        int part = CacheTable.hash(key) >>> (32 - PART_BITS);
        Object[] a = pairs[part];
        int n = counts[part];
        if (n == a.length) {
          pairs[part] = a = Arrays.copyOf(a, 2 * n);
        }
        a[n] = key;
        a[n + 1] = value;
        counts[part] = n + 2;
        size++;
      }
    }

    /** The cache holding every entry the sinks received. */
    WarmCache finish() {
      List<Parts> all = new ArrayList<>();
      long size = 0;
      for (Sink sink : sinks) {
        if (sink.parts != null) {
          all.add(sink.parts);
          size += sink.parts.size;
        }
      }
      sinks.clear();
      if (size > Integer.MAX_VALUE) {
        throw new IllegalStateException("the cache cannot hold " + size + " entries");
      }
      CacheTable map = new CacheTable((int) size);
      for (int part = 0; part < PARTS; part++) {
        for (Parts p : all) {
          Object[] a = p.pairs[part];
          for (int i = 0, n = p.counts[part]; i < n; i += 2) {
            map.insertAbsent((String) a[i], (String) a[i + 1]);
          }
          p.pairs[part] = null; // garbage as soon as it is in the table
        }
      }
      map.countInserted((int) size);
      return new WarmCache(map);
    }
  }

  /**
   * Reads the table on {@code c} and returns how it differs from the cache (a null value: the key
   * is gone), without publishing anything. Holds the writer lock, so the cache does not change
   * meanwhile. If {@code c} is in a transaction the read happens in it, otherwise in a read
   * transaction of its own.
   *
   * <p><b>Bounded memory.</b> The rows stream past in {@link TableLoader}'s chunks and each is
   * compared with the cache as it arrives: only a row that differs is kept. Deleted keys are found
   * by marking the slot of every row read in a bit set (one bit per slot): if every row was in the
   * cache and their count is the cache's size, nothing was deleted; otherwise the unmarked slots
   * are the deleted keys. So a reload allocates the differences, one bit per slot and the chunks in
   * flight, not a second copy of the table (which, at 1M entries of 20-byte values, made a reload
   * beside a warm start fail in a 200 MB heap that the warm start alone fits in).
   *
   * @throws CorruptValueException if a key or value is not valid UTF-8
   */
  Map<String, String> differencesFrom(
      Connection c, boolean inTransaction, TableLoader.SqlRunnable inSnapshot) throws SQLException {
    BitSet seen = new BitSet(map.capacity());
    Map<String, String> diff = new HashMap<>();
    int[] matched = new int[1]; // rows whose key the cache holds
    // The sink runs on TableLoader's parsing thread, which readAll joins before it returns; nothing
    // writes the table meanwhile (the caller holds the writer lock).
    TableLoader.readAll(
        c,
        !inTransaction,
        inSnapshot,
        (key, value) -> {
          int slot = map.slotOf(key);
          if (slot < 0) {
            diff.put(key, value);
            return;
          }
          seen.set(slot);
          matched[0]++;
          if (!value.equals(map.valueAt(slot))) {
            diff.put(key, value);
          }
        },
        TableLoader.CHUNK_BYTES);
    if (matched[0] != map.size()) {
      map.forEachUnmarked(seen, key -> diff.put(key, null));
    }
    return diff;
  }

  /** Reads the table and publishes how it differs from the cache, in one publication. */
  @Override
  public int takeIn(Connection c, boolean inTransaction, TableLoader.SqlRunnable inSnapshot)
      throws SQLException {
    Map<String, String> diff = differencesFrom(c, inTransaction, inSnapshot);
    publish(diff);
    return diff.size();
  }

  /** The cache: it holds the whole table, kept equal to it under the writer lock. */
  @Override
  public String current(String key, java.sql.PreparedStatement lookup) {
    return get(key);
  }

  @Override
  public boolean holdsWholeTable() {
    return true;
  }

  /**
   * Makes all {@code changes} (a null value removes its key) visible at once. Called only by the
   * writer, holding its lock, after the transaction that made them durable committed.
   */
  @Override
  public void publish(Map<String, String> changes) {
    if (changes.isEmpty()) {
      return;
    }
    long s = seq;
    seq = s + 1; // odd: readers retry until the matching even write
    VarHandle.fullFence();
    try {
      changes.forEach(
          (k, v) -> {
            if (v == null) {
              map.remove(k);
            } else {
              map.put(k, v);
            }
          });
    } finally {
      VarHandle.fullFence();
      seq = s + 2;
    }
  }

  /** The value of {@code key}, or null; never from the middle of a publication. */
  @Override
  public String get(String key) {
    // Small on purpose, so it inlines into callers: the retry loop is out of line.
    long s = seq;
    String value = map.get(key);
    VarHandle.loadLoadFence(); // CHM's reads are volatile anyway; this states the order needed
    return seq == s && (s & 1) == 0 ? value : getDuringPublication(key);
  }

  private String getDuringPublication(String key) {
    for (int spins = 0; ; spins++) {
      backOff(spins);
      long s = seq;
      String value = map.get(key);
      VarHandle.loadLoadFence();
      if ((s & 1) == 0 && seq == s) {
        return value;
      }
    }
  }

  /** The number of entries, never from the middle of a publication. */
  @Override
  public int size() {
    for (int spins = 0; ; spins++) {
      long s = seq;
      int size = map.size();
      VarHandle.loadLoadFence();
      if ((s & 1) == 0 && seq == s) {
        return size;
      }
      backOff(spins);
    }
  }

  /**
   * A copy of the whole cache from between two publications, or null if writers kept publishing
   * during {@code attempts} tries (the caller then copies while holding the writer lock).
   */
  @Override
  public Map<String, String> copy(int attempts) {
    for (int i = 0; i < attempts; i++) {
      long s = seq;
      if ((s & 1) == 0) {
        Map<String, String> copy = new HashMap<>(map.size() * 4 / 3 + 16);
        map.forEach(copy::put);
        VarHandle.loadLoadFence();
        if (seq == s) {
          return copy;
        }
      }
      Thread.yield();
    }
    return null;
  }

  private static void backOff(int spins) {
    if (spins < 100) {
      Thread.onSpinWait();
    } else {
      Thread.yield(); // a large reload is being published
    }
  }

  /** The table itself, for tests and benchmarks of its flood statistics. */
  CacheTable table() {
    return map;
  }

  /** Empties the cache to free its memory once the store is closed; readers check closed after. */
  @Override
  public void clear() {
    map.clear();
  }
}
