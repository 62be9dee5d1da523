package dev.kvlog.sqlite;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.kvlog.KVLogException;
import dev.kvlog.StoreClosedException;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Lock;
import java.util.function.Consumer;

/**
 * A bounded part of the table in memory (Caffeine's W-TinyLFU, weighed in estimated heap bytes),
 * for stores larger than the heap; a miss reads SQLite on one of a few pooled reader connections.
 * Absent keys are cached too (a negative entry), so a hot absent key does not read SQLite each
 * time. Thread-safe: one writer (the {@link SqliteWriter}, under its lock), any number of readers.
 *
 * <p><b>Invariant: a valid entry holds the key's last published value.</b> An entry is valid if its
 * stamp is at least {@code droppedAt}. The writer puts every key it commits (value or negative) in
 * its publication; a reader installs what it read only if no commit of that key can have been
 * published, or be in flight, since its read began. Hence a hit never returns a value older than a
 * published write, and never one that is not durable.
 *
 * <p><b>The miss-load race, solved with per-stripe versions.</b> {@code seq} counts publications
 * (odd while one is in progress, a seqlock as in {@link WarmCache}); {@code written[stripe]} holds
 * the {@code seq} that the last commit touching a key of that stripe publishes, set BEFORE its
 * COMMIT ({@link #committing}). A miss reads {@code s0 = seq} (even), then the row in one
 * auto-commit SELECT, then installs with Caffeine's {@code compute} only if {@code written[stripe]
 * <= s0}. Why that is enough: a commit of the key that is in the SELECT's snapshot set its stripe
 * before it committed, so the check sees it (the value is then not trusted); one that is not in the
 * snapshot either set its stripe before the check (nothing installed) or after it, and then its
 * publication's {@code put} comes after the {@code compute} (both lock the key's bin) and
 * overwrites what was installed. A miss whose stripe moved reads again under the publication lock
 * (no commit of this writer is then between COMMIT and publication, so the snapshot equals a
 * published state), returns that, and installs nothing unless the stripe is still old. Stripes are
 * shared by many keys: a collision costs an install, never correctness.
 *
 * <p><b>Atomic visibility.</b> A publication puts all of a transaction's keys while {@code seq} is
 * odd; a hit that overlaps it retries, so a reader sees all of a batch or none of it (as in {@link
 * WarmCache}). A miss never shows a commit of this writer before its publication: see above.
 *
 * <p><b>Other connections' commits</b> are found by the writer ({@link ExternalChanges}); this
 * cache then drops everything at once: {@code droppedAt} moves in one publication, every older
 * entry stops being valid, and no miss begun before it installs. Until the writer looks (every
 * write, scan and {@code refresh()}, and the poll interval), a miss may read such a commit while a
 * cached key still shows the value before it: the one place where this mode sees less atomically
 * than the whole-table cache.
 */
final class BoundedCache implements TableCache {
  /** Estimated bytes of one entry's objects beyond its text: node, map entry, holder, Strings. */
  static final int ENTRY_OVERHEAD = 200;

  private static final int STRIPES = 1 << 14;

  /** Test hook: runs after a miss read the table, before it installs; gets the key. */
  static volatile Consumer<String> beforeInstallHookForTests;

  /** A cached value (null: the key is absent) and the publication it is valid from. */
  private record Cached(String value, long stamp) {}

  private final Path path;
  private final Cache<String, Cached> cache;
  private final Lock publicationReadLock;
  private final BlockingQueue<Reader> readers;
  private final AtomicLongArray written = new AtomicLongArray(STRIPES);
  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private volatile long seq; // odd while publishing; written only by the writer, under its lock
  private volatile long droppedAt; // entries stamped before this are not valid
  private volatile boolean closed;

  /**
   * A cache of at most {@code maxBytes} reading misses on {@code connections} (in auto-commit mode;
   * this cache owns them and closes them in {@link #closeConnections}).
   *
   * @param publicationReadLock the read side of the writer's publication lock (held by the writer
   *     from before COMMIT until the commit is published)
   */
  BoundedCache(Path path, long maxBytes, List<Connection> connections, Lock publicationReadLock) {
    this.path = path;
    this.publicationReadLock = publicationReadLock;
    this.cache =
        Caffeine.newBuilder()
            .maximumWeight(maxBytes)
            .weigher((String k, Cached c) -> weight(k, c.value()))
            .build();
    this.readers = new ArrayBlockingQueue<>(connections.size());
    for (Connection c : connections) {
      Reader r = new Reader(c);
      readers.add(r);
    }
  }

  /** The estimated heap bytes of an entry: its text at one byte per char, plus its objects. */
  static int weight(String key, String value) {
    long bytes = ENTRY_OVERHEAD + (long) key.length() + (value == null ? 0 : value.length());
    return (int) Math.min(Integer.MAX_VALUE, bytes);
  }

  private static int stripe(String key) {
    int h = key.hashCode();
    return (h ^ (h >>> 16)) & (STRIPES - 1);
  }

  // ---- reads ----

  @Override
  public String get(String key) {
    for (int spins = 0; ; spins++) {
      long s = seq;
      Cached c = cache.getIfPresent(key);
      long dropped = droppedAt;
      VarHandle.loadLoadFence();
      if ((s & 1) == 0 && seq == s) {
        if (c != null && c.stamp() >= dropped) {
          hits.increment();
          return c.value();
        }
        return load(key);
      }
      backOff(spins);
    }
  }

  /** Reads {@code key} from the table and installs it if no write of it can have raced the read. */
  private String load(String key) {
    misses.increment();
    int stripe = stripe(key);
    Reader r = acquire();
    try {
      long s0 = evenSeq();
      String value = r.read(key);
      if (written.get(stripe) > s0) {
        // A commit of this stripe began during the read: it may be in the snapshot before it is
        // published. Read again with no commit of this writer between COMMIT and publication.
        publicationReadLock.lock();
        try {
          s0 = seq;
          value = r.read(key);
        } finally {
          publicationReadLock.unlock();
        }
      }
      Consumer<String> hook = beforeInstallHookForTests;
      if (hook != null) {
        hook.accept(key);
      }
      install(key, stripe, value, s0);
      return value;
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    } finally {
      release(r);
    }
  }

  /**
   * Installs {@code value}, read in a snapshot begun at publication {@code s0}, unless the key has
   * a valid entry or a commit of its stripe (or a drop) came since {@code s0}.
   */
  private void install(String key, int stripe, String value, long s0) {
    cache
        .asMap()
        .compute(
            key,
            (k, old) -> {
              long dropped = droppedAt;
              if (old != null && old.stamp() >= dropped) {
                return old; // the writer's, or another reader's: current as well
              }
              if (written.get(stripe) > s0 || dropped > s0) {
                return null; // a later write may be published or in flight: not this value
              }
              return new Cached(value, s0);
            });
  }

  private long evenSeq() {
    for (int spins = 0; ; spins++) {
      long s = seq;
      if ((s & 1) == 0) {
        return s;
      }
      backOff(spins);
    }
  }

  @Override
  public String current(String key, PreparedStatement lookup) throws SQLException {
    Cached c = cache.getIfPresent(key); // under the writer lock: no publication in progress
    if (c != null && c.stamp() >= droppedAt) {
      return c.value();
    }
    String value = Reader.read(lookup, key);
    // Read inside the write transaction, after other connections' commits were taken in: the
    // table as published. Cached, so that a hot absent key (a delete or setIfAbsent) is not read
    // again; the group's own changes overwrite it when it is published.
    install(key, stripe(key), value, seq);
    return value;
  }

  // ---- the writer's side ----

  @Override
  public void committing(Map<String, String> changes) {
    if (changes.isEmpty()) {
      return;
    }
    long next = seq + 2; // the publication that will make these visible
    for (String key : changes.keySet()) {
      written.set(stripe(key), next);
    }
  }

  @Override
  public void publish(Map<String, String> changes) {
    if (changes.isEmpty()) {
      return;
    }
    long s = seq;
    long next = s + 2;
    seq = s + 1; // odd: hits retry until the matching even write
    VarHandle.fullFence();
    try {
      changes.forEach(
          (k, v) -> {
            written.set(stripe(k), next);
            cache.put(k, new Cached(v, next));
          });
    } finally {
      VarHandle.fullFence();
      seq = next;
    }
  }

  /**
   * Another connection committed: drops every entry at once (reading nothing but {@code
   * inSnapshot}'s version), so each key is read again from the table on its next get.
   */
  @Override
  public int takeIn(Connection c, boolean inTransaction, TableLoader.SqlRunnable inSnapshot)
      throws SQLException {
    inSnapshot.run(); // the version first: a commit after it is found by the next check
    long s = seq;
    seq = s + 1;
    VarHandle.fullFence();
    try {
      droppedAt = s + 2;
    } finally {
      VarHandle.fullFence();
      seq = s + 2;
    }
    cache.invalidateAll(); // frees the memory; the entries were invalid already
    return -1;
  }

  @Override
  public boolean holdsWholeTable() {
    return false;
  }

  /** Entries held now (estimated by Caffeine), valid or not. */
  @Override
  public int size() {
    return (int) Math.min(Integer.MAX_VALUE, cache.estimatedSize());
  }

  @Override
  public Map<String, String> copy(int attempts) {
    throw new UnsupportedOperationException("a bounded cache holds part of the table");
  }

  @Override
  public long hits() {
    return hits.sum();
  }

  @Override
  public long misses() {
    return misses.sum();
  }

  @Override
  public void clear() {
    cache.invalidateAll();
  }

  /** Closes the reader connections; a miss in progress finishes, later ones throw. */
  @Override
  public void closeConnections() {
    closed = true;
    List<Reader> idle = new ArrayList<>();
    readers.drainTo(idle);
    List<AutoCloseable> resources = new ArrayList<>();
    for (Reader r : idle) {
      r.addTo(resources);
    }
    Resources.closeAll(
        "cannot close the reader connections of " + path, resources.toArray(new AutoCloseable[0]));
  }

  private Reader acquire() {
    try {
      while (true) {
        if (closed) {
          throw new StoreClosedException(path + " is closed");
        }
        Reader r = readers.poll(50, TimeUnit.MILLISECONDS);
        if (r != null) {
          return r;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KVLogException("interrupted while waiting for a reader connection to " + path, e);
    }
  }

  private void release(Reader r) {
    readers.add(r);
    if (closed && readers.remove(r)) { // closeConnections ran meanwhile: close it here
      List<AutoCloseable> resources = new ArrayList<>();
      r.addTo(resources);
      try {
        Resources.closeAll(
            "cannot close a reader connection of " + path, resources.toArray(new AutoCloseable[0]));
      } catch (KVLogException e) {
        // The store is closed and this miss is answered; the pool closes what is left.
      }
    }
  }

  private static void backOff(int spins) {
    if (spins < 100) {
      Thread.onSpinWait();
    } else {
      Thread.yield();
    }
  }

  /** Number of reader connections a bounded cache uses. */
  static int readerConnections() {
    return Math.max(2, Math.min(8, Runtime.getRuntime().availableProcessors()));
  }

  /** One pooled connection and its prepared lookup; used by one thread at a time. */
  private static final class Reader {
    private final Connection connection;
    private PreparedStatement select; // re-prepared after a failure (sqlite-jdbc finalizes it)

    Reader(Connection connection) {
      this.connection = connection;
    }

    String read(String key) throws SQLException {
      if (select == null) {
        select = connection.prepareStatement(SqliteWriter.LOOKUP);
      }
      try {
        return read(select, key);
      } catch (SQLException | RuntimeException e) {
        PreparedStatement failed = select;
        select = null;
        try {
          failed.close();
        } catch (SQLException again) {
          e.addSuppressed(again);
        }
        throw e;
      }
    }

    static String read(PreparedStatement lookup, String key) throws SQLException {
      lookup.setString(1, key);
      try (ResultSet rs = lookup.executeQuery()) {
        return rs.next() ? TableLoader.decodeStrictly(rs.getBytes(1), key) : null;
      }
    }

    void addTo(List<AutoCloseable> resources) {
      if (select != null) {
        resources.add(select);
      }
      resources.add(connection);
    }
  }
}
