package dev.kvlog;

import dev.kvlog.internal.Secrets;
import dev.kvlog.spi.Settings;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Options for opening a store. An option belongs to a backend ({@link #busyTimeout}, {@link
 * #groupCommit}, {@link #externalChangeCheck}, {@link #verifyOnOpen} and {@link #cacheSize} to
 * SQLite, {@link #poolSize} to PostgreSQL); opening refuses an option the store's backend does not
 * use, rather than ignore it. Not thread-safe; the store copies what it needs, so changing a
 * builder after {@link #open()} does not affect the store.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class KVLogBuilder<K, V> {
  private final String url;
  private final Codec<K> keys;
  private final Codec<V> values;
  private Duration busyTimeout;
  private Boolean groupCommit;
  private Duration externalChangeCheck;
  private Boolean verifyOnOpen;
  private Integer poolSize;
  private Long cacheSize;
  private final Map<String, String> properties = new LinkedHashMap<>();

  KVLogBuilder(String url, Codec<K> keys, Codec<V> values) {
    this.url = url;
    this.keys = Objects.requireNonNull(keys, "key codec must not be null");
    this.values = Objects.requireNonNull(values, "value codec must not be null");
  }

  /**
   * SQLite: how long a write waits for SQLite's write lock when another connection (say, a {@code
   * sqlite3} shell writing to the file) holds it. Default 5 seconds; between 0 and 1 hour.
   *
   * @param timeout the longest wait for the lock
   * @return this builder
   * @throws IllegalArgumentException if out of range
   */
  public KVLogBuilder<K, V> busyTimeout(Duration timeout) {
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.compareTo(Duration.ofHours(1)) > 0) {
      throw new IllegalArgumentException(
          "busyTimeout must be between 0 and 1 hour, was " + timeout);
    }
    this.busyTimeout = timeout;
    return this;
  }

  /**
   * SQLite: whether concurrent writes share a transaction (default true). With group commit,
   * writers that arrive while a commit is in progress are committed together in the next
   * transaction, with one fsync; each still returns only once its own change is durable, and a
   * write that fails fails alone. A lone writer is committed at once either way, so group commit
   * adds no latency; turn it off only to measure the difference.
   *
   * @param enabled false to commit each write in its own transaction
   * @return this builder
   */
  public KVLogBuilder<K, V> groupCommit(boolean enabled) {
    this.groupCommit = enabled;
    return this;
  }

  /**
   * SQLite: how often the store looks for changes that other connections (a {@code sqlite3} shell,
   * a migration tool) committed to the database while no one writes through this store; a change
   * found reloads the cache. Default 1 second; zero turns the polling off. Every write checks
   * before it commits regardless, so writes are always decided against the current table.
   *
   * @param interval the time between checks; zero for none
   * @return this builder
   * @throws IllegalArgumentException if negative
   */
  public KVLogBuilder<K, V> externalChangeCheck(Duration interval) {
    Objects.requireNonNull(interval, "interval");
    if (interval.isNegative()) {
      throw new IllegalArgumentException("externalChangeCheck must not be negative: " + interval);
    }
    this.externalChangeCheck = interval;
    return this;
  }

  /**
   * SQLite: whether opening runs SQLite's {@code PRAGMA quick_check} over the whole file first,
   * refusing a damaged store with a message that names the damage (default true, but false with
   * {@link #cacheSize}, whose open reads no data). It reads every page once: about 0.1 s per
   * million entries here, some 20% of the load that follows.
   *
   * @param enabled false to skip the check
   * @return this builder
   */
  public KVLogBuilder<K, V> verifyOnOpen(boolean enabled) {
    this.verifyOnOpen = enabled;
    return this;
  }

  /**
   * SQLite: keeps a bounded cache of at most {@code maxBytes} of heap instead of the whole table,
   * for stores larger than the heap. Gets of cached keys (present or absent: an absent key is
   * cached too) are answered from memory; a miss reads SQLite on a pooled reader connection, so it
   * costs a B-tree lookup (microseconds with the file in the OS page cache, a disk read without).
   * Open no longer reads the table, so it takes the same time at any size, and {@link
   * #verifyOnOpen} defaults to false (it would read every page). Every guarantee of the default
   * mode holds: a get never sees a write before it is durable, nor part of a batch, and a miss that
   * races a write of the same key never installs the older value. Eviction is Caffeine's W-TinyLFU,
   * which needs {@code com.github.ben-manes.caffeine:caffeine} (3.x) on the class path.
   *
   * <p>Why bytes and not entries: values range from a few bytes to megabytes, so only a byte bound
   * bounds the heap. The size of an entry is estimated from its text (one byte per char, as for
   * Latin-1 text in compact strings; other text takes up to twice that) plus about 200 bytes for
   * the entry's objects.
   *
   * @param maxBytes the most heap the cached entries may take, estimated; at least 1
   * @return this builder
   * @throws IllegalArgumentException if below 1
   */
  public KVLogBuilder<K, V> cacheSize(long maxBytes) {
    if (maxBytes < 1) {
      throw new IllegalArgumentException(
          "cacheSize must be at least 1 byte, was "
              + maxBytes
              + "; leave it unset to keep the whole table in memory");
    }
    this.cacheSize = maxBytes;
    return this;
  }

  /**
   * PostgreSQL: connections for writes and reloads (default 8), plus one of its own for the change
   * feed.
   *
   * @param connections the pool's size
   * @return this builder
   * @throws IllegalArgumentException if not between 1 and 1000
   */
  public KVLogBuilder<K, V> poolSize(int connections) {
    if (connections < 1 || connections > 1000) {
      throw new IllegalArgumentException("poolSize must be between 1 and 1000, was " + connections);
    }
    this.poolSize = connections;
    return this;
  }

  /**
   * Test hook: runs with {@code synchronous=mode} instead of refusing it. Only the power-cut tests
   * use it, to show that their check catches the writes such a store loses.
   */
  KVLogBuilder<K, V> weakSynchronousForTests(String mode) {
    properties.put("pragma.synchronous", mode);
    properties.put("weakSynchronousForTests", "true");
    return this;
  }

  /** Test hook: an extra per-connection SQLite pragma, set as a driver property. */
  KVLogBuilder<K, V> pragma(String name, String value) {
    properties.put("pragma." + name, value);
    return this;
  }

  /**
   * Opens the store. On SQLite: resolves symbolic links (every file of the store is named after the
   * real file), checks an existing file without changing it, takes the owner lock, creates the file
   * owner-only if it is new, checks the connections' pragmas, applies pending migrations and loads
   * the table into memory; a refused file is left byte-identical, with no {@code -wal}, {@code
   * -shm} or {@code -lock} file left beside it. On PostgreSQL: connects, refuses a server that may
   * lose commits ({@code fsync=off}), applies pending migrations, starts the change feed and loads
   * the table.
   *
   * @return the open store; close it when done
   * @throws IllegalArgumentException if no backend accepts the URL, or an option set does not
   *     belong to its backend
   * @throws StoreOpenException if the path cannot hold a store (a directory, a symbolic link into a
   *     missing directory, an unwritable directory, a mount point of its own, a {@code -lock},
   *     {@code -wal} or {@code -shm} name that is a link or a directory, a lock file that cannot be
   *     created), or the file is not a KVLog store, is damaged, has more than one hard link, or
   *     SQLite's own lock is held by another connection past {@code busyTimeout}; or the server
   *     cannot be reached or is configured to lose commits
   * @throws StoreLockedException if another process or store object has the SQLite file open
   * @throws SchemaException if the store's schema is newer than this build or a migration failed
   */
  public KVLog<K, V> open() {
    Settings settings =
        new Settings(
            busyTimeout,
            groupCommit,
            externalChangeCheck,
            verifyOnOpen,
            poolSize,
            cacheSize,
            properties);
    return new KVLog<>(Backends.open(url, settings), keys, values);
  }

  @Override
  public String toString() {
    return "KVLogBuilder[" + Secrets.redact(url) + "]";
  }
}
