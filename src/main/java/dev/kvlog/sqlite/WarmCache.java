package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import java.lang.invoke.VarHandle;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

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
 * saw its odd write, and retries until the publication is complete. This relies on every structural
 * write of {@link ConcurrentHashMap} being a volatile write (it is: CAS, {@code setTabAt}, volatile
 * {@code val} and {@code next}); the fences make the order explicit anyway. Cost: two volatile
 * reads per {@code get}, no allocation, no lock; writers never wait for readers.
 *
 * <p><b>Representation.</b> A {@link ConcurrentHashMap} of Strings: a read is one lookup with no
 * allocation and no decoding, and for Latin-1 text (compact strings) an entry of a 16-byte key and
 * a 100-byte value costs about 2.1 times its raw bytes.
 *
 * <p><b>Loading</b> is {@link TableLoader}'s: chunked, byte-bounded and strictly UTF-8.
 */
final class WarmCache {
  private final ConcurrentHashMap<String, String> map;
  private volatile long
      seq; // odd while publishing; written only by the SqliteWriter, under its lock

  private WarmCache(ConcurrentHashMap<String, String> map) {
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
    return load(c, inSnapshot, TableLoader.CHUNK_BYTES);
  }

  /** {@link #load} with a chunk budget of at most {@code chunkBytes}: tests use small budgets. */
  static WarmCache load(Connection c, TableLoader.SqlRunnable inSnapshot, long chunkBytes)
      throws SQLException {
    ConcurrentHashMap<String, String> map = new ConcurrentHashMap<>();
    TableLoader.readAll(c, true, inSnapshot, map::put, chunkBytes);
    return new WarmCache(map);
  }

  /**
   * Reads the table on {@code c} and returns how it differs from the cache (a null value: the key
   * is gone), without publishing anything. Holds the writer lock. If {@code c} is in a transaction
   * the read happens in it, otherwise in a read transaction of its own.
   *
   * @throws CorruptValueException if a key or value is not valid UTF-8
   */
  Map<String, String> differencesFrom(
      Connection c, boolean inTransaction, TableLoader.SqlRunnable inSnapshot) throws SQLException {
    Map<String, String> rows = new HashMap<>(map.size() * 4 / 3 + 16);
    TableLoader.readAll(c, !inTransaction, inSnapshot, rows::put, TableLoader.CHUNK_BYTES);
    Map<String, String> diff = new HashMap<>();
    for (Map.Entry<String, String> e : rows.entrySet()) {
      if (!e.getValue().equals(map.get(e.getKey()))) {
        diff.put(e.getKey(), e.getValue());
      }
    }
    for (String key : map.keySet()) {
      if (!rows.containsKey(key)) {
        diff.put(key, null);
      }
    }
    return diff;
  }

  /**
   * Makes all {@code changes} (a null value removes its key) visible at once. Called only by the
   * writer, holding its lock, after the transaction that made them durable committed.
   */
  void publish(Map<String, String> changes) {
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
  String get(String key) {
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
  int size() {
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
  Map<String, String> copy(int attempts) {
    for (int i = 0; i < attempts; i++) {
      long s = seq;
      if ((s & 1) == 0) {
        Map<String, String> copy = new HashMap<>(map);
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

  /** Empties the cache to free its memory once the store is closed; readers check closed after. */
  void clear() {
    map.clear();
  }
}
