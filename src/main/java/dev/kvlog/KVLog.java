package dev.kvlog;

import dev.kvlog.internal.Secrets;
import dev.kvlog.internal.Text;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.Capability;
import dev.kvlog.spi.Change;
import dev.kvlog.spi.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

/**
 * A {@link KVStore} whose reads come from memory and whose writes return once durable, on SQLite
 * ({@code jdbc:sqlite:<file>}, the embedded default) or on PostgreSQL ({@code
 * jdbc:postgresql://...}, for several application instances sharing one store).
 *
 * <h2>Design</h2>
 *
 * <p><b>One facade, one seam.</b> This class owns what is the same for every backend: the codecs
 * and their failures, the UTF-16 check of every key and value, the closed state, asynchronous
 * calls, batches, scans, the {@link #asMap() map view}. Under it, a {@link Backend} stores encoded
 * text and keeps its own write path and cache; backends are found by URL ({@link
 * java.util.ServiceLoader}), so this class knows neither SQLite nor PostgreSQL.
 *
 * <p><b>The log (SQLite).</b> The store is one SQLite table, {@code kv(key TEXT NOT NULL PRIMARY
 * KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID}, in WAL journal mode with {@code
 * synchronous=FULL}, verified on every pooled connection at open. Writes queue for a single writer;
 * whoever holds it commits everything queued as one transaction (group commit), and SQLite appends
 * the changed pages and a commit frame to the {@code -wal} file and fsyncs it before any of those
 * calls returns. Every write is decided inside SQLite's write lock ({@code BEGIN IMMEDIATE}, then a
 * check for other connections' commits, then the decision), so a prior value, compare-and-set or
 * {@code setIfAbsent} always sees the table as it is, even when a {@code sqlite3} shell commits
 * while the write waits for the lock.
 *
 * <p><b>The cache.</b> Opening reads the whole table into a concurrent map of encoded keys to
 * encoded values; {@code get} is a map lookup and a decode and never touches the disk. The cache
 * changes only after the commit returned and before the writer lock is released, each committed
 * group (or reload of other connections' changes) in one atomic publication. Therefore no thread
 * ever sees a value that is not durable or part of a transaction, the prior value a write returns
 * is the one the log held, and the cache always equals what a reopen would read. Scans read the
 * database, ordered with the cache so that no later {@code get} contradicts a scan. Stored text
 * that a codec cannot decode is reported as {@link CorruptValueException} naming the key; a write
 * whose prior value cannot be decoded is refused before it changes anything.
 *
 * <p><b>Other tools.</b> Other connections may change the table's rows at any time (the cache
 * reloads what they commit), but not its schema: a {@code kv} table with other columns, types,
 * constraints or triggers is refused at open, and writes are refused (the table unchanged) while
 * such a change is in place.
 *
 * <p><b>Crashes.</b> A write either committed (its commit frame, with valid checksums, is in the
 * fsynced WAL) or it did not; at the next open SQLite replays committed frames and ignores any torn
 * tail. A crash can lose only writes whose call had not returned.
 *
 * <p><b>Ownership.</b> One store object in one process owns a SQLite file, enforced by an OS lock
 * on {@code <file>-lock}. Other processes may read the database with {@code sqlite3} at any time.
 * On PostgreSQL any number of instances share the table; see the README's PostgreSQL section for
 * its consistency (row locks, versions, a change feed with a staleness bound).
 *
 * <p>Thread-safe: share one instance among all threads, virtual threads and async tasks.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class KVLog<K, V> implements KVStore<K, V> {
  private final Backend backend;
  private final Typed<K, V> typed;
  private final String where;
  private volatile boolean closed;
  private volatile ExecutorService defaultExecutor; // created on the first async() call

  private KVLog(Backend backend, Codec<K> keys, Codec<V> values) {
    this.backend = backend;
    this.where = backend.describe();
    this.typed = new Typed<>(keys, values, backend, where);
  }

  /**
   * Opens (creating if needed) the SQLite store at {@code file} with String keys and values and
   * default options.
   *
   * @param file the store's database file; its {@code -wal}, {@code -shm} and {@code -lock} files
   *     live beside it
   * @return the open store; close it when done
   * @throws StoreOpenException if the path cannot hold a store, or the file is not a KVLog store
   * @throws StoreLockedException if another process or store object has it open
   * @throws SchemaException if the store's schema is newer than this build
   */
  public static KVLog<String, String> open(Path file) {
    return builder(file).open();
  }

  /**
   * The same as {@link #open(Path)}.
   *
   * @param file the store's database file
   * @return the open store; close it when done
   */
  public static KVLog<String, String> load(Path file) {
    return open(file);
  }

  /**
   * Opens the store a JDBC URL names, with String keys and values and default options: {@code
   * jdbc:sqlite:<file>} opens a KVLog file as {@link #open(Path)} does; {@code
   * jdbc:postgresql://host/database} a store on that server (the PostgreSQL driver must be on the
   * class path). The same operations and guarantees on either.
   *
   * @param jdbcUrl the store's URL, such as {@code jdbc:sqlite:kv.db}
   * @return the open store; close it when done
   * @throws IllegalArgumentException if no backend accepts the URL
   * @throws StoreOpenException if the store cannot be opened
   * @throws StoreLockedException if another process or store object owns a SQLite file
   * @throws SchemaException if the store's schema is newer than this build
   */
  public static KVLog<String, String> connect(String jdbcUrl) {
    return builder(jdbcUrl).open();
  }

  /**
   * A builder for a SQLite store of String keys and values at {@code file}.
   *
   * @param file the store's database file
   * @return a builder with default options
   */
  public static Builder<String, String> builder(Path file) {
    return builder(file, Codecs.string(), Codecs.string());
  }

  /**
   * A builder for a SQLite store at {@code file} whose keys and values are converted by codecs.
   *
   * @param <K> key type
   * @param <V> value type
   * @param file the store's database file
   * @param keys the codec that converts keys to and from stored text
   * @param values the codec that converts values to and from stored text
   * @return a builder with default options
   */
  public static <K, V> Builder<K, V> builder(Path file, Codec<K> keys, Codec<V> values) {
    Objects.requireNonNull(file, "file must not be null");
    return new Builder<>(Backends.SQLITE_PREFIX + file, keys, values);
  }

  /**
   * A builder for the store a JDBC URL names ({@code jdbc:sqlite:<file>} or {@code
   * jdbc:postgresql://host/database}), with String keys and values.
   *
   * @param jdbcUrl the store's URL
   * @return a builder with default options
   */
  public static Builder<String, String> builder(String jdbcUrl) {
    return builder(jdbcUrl, Codecs.string(), Codecs.string());
  }

  /**
   * A builder for the store a JDBC URL names, whose keys and values are converted by codecs.
   *
   * @param <K> key type
   * @param <V> value type
   * @param jdbcUrl the store's URL
   * @param keys the codec that converts keys to and from stored text
   * @param values the codec that converts values to and from stored text
   * @return a builder with default options
   */
  public static <K, V> Builder<K, V> builder(String jdbcUrl, Codec<K> keys, Codec<V> values) {
    Objects.requireNonNull(jdbcUrl, "jdbcUrl must not be null");
    return new Builder<>(jdbcUrl, keys, values);
  }

  /**
   * {@inheritDoc} Never returns part of a committed batch, group or reload; after (or racing)
   * {@link #close()} it throws rather than answer from an emptied cache.
   *
   * @throws CorruptValueException if the stored value cannot be decoded by the value codec (the
   *     message names the key)
   * @throws KVLogException on PostgreSQL, if the key's last write had an unknown outcome and
   *     settling it failed, or the change feed is too far behind and the table cannot be read
   */
  @Override
  public Optional<V> get(K key) {
    String k = typed.key(key, false);
    checkOpen();
    String v;
    try {
      v = backend.get(k);
    } catch (RuntimeException e) {
      throw closedOr(e);
    }
    checkOpen(); // close() empties the cache after marking the store closed: never report empty
    return v == null ? Optional.empty() : Optional.of(typed.value(k, v));
  }

  /**
   * {@inheritDoc}
   *
   * @throws WriteFailedException if the write failed: with {@link
   *     WriteFailedException#outcomeUnknown()} false the store is unchanged (this includes a prior
   *     value the codec cannot decode, with the {@link CorruptValueException} as cause); with it
   *     true the write may or may not have been applied
   */
  @Override
  public Optional<V> set(K key, V value) {
    String k = typed.key(key, true);
    String v = typed.encodeValue(value);
    checkOpen();
    return Optional.ofNullable(backend.set(k, v, typed.priorOf(k)));
  }

  /**
   * {@inheritDoc}
   *
   * @throws WriteFailedException if the write failed: with {@link
   *     WriteFailedException#outcomeUnknown()} false the store is unchanged (this includes a prior
   *     value the codec cannot decode, with the {@link CorruptValueException} as cause); with it
   *     true the write may or may not have been applied
   */
  @Override
  public Optional<V> delete(K key) {
    String k = typed.key(key, false);
    checkOpen();
    return Optional.ofNullable(backend.delete(k, typed.priorOf(k)));
  }

  /**
   * {@inheritDoc}
   *
   * @throws WriteFailedException if the write failed: with {@link
   *     WriteFailedException#outcomeUnknown()} false the store is unchanged (this includes a
   *     present value the codec cannot decode, with the {@link CorruptValueException} as cause);
   *     with it true the write may or may not have been applied
   */
  @Override
  public Optional<V> setIfAbsent(K key, V value) {
    String k = typed.key(key, true);
    String v = typed.encodeValue(value);
    checkOpen();
    return Optional.ofNullable(backend.setIfAbsent(k, v, typed.priorOf(k)));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Here the comparison is against the stored text, byte for byte, with {@code expected} encoded
   * by the value codec: for {@link Codecs#json} a row another tool wrote as {@code {"b":2,"a":1}}
   * does not match an {@code expected} that encodes as {@code {"a":1,"b":2}}, even if {@code
   * expected} is what {@link #get} returned for it.
   */
  @Override
  public boolean compareAndSet(K key, V expected, V newValue) {
    String k = typed.key(key, newValue != null);
    String e = expected == null ? null : typed.encodeValue(expected);
    String n = newValue == null ? null : typed.encodeValue(newValue);
    checkOpen();
    return backend.compareAndSet(k, e, n);
  }

  /** {@inheritDoc} */
  @Override
  public void write(WriteBatch<K, V> batch) {
    Objects.requireNonNull(batch, "batch");
    List<Change> changes = new ArrayList<>(batch.size());
    batch.forEach(
        (k, v) ->
            changes.add(
                new Change(typed.key(k, v != null), v == null ? null : typed.encodeValue(v))));
    checkOpen();
    if (!changes.isEmpty()) {
      backend.apply(changes);
    }
  }

  /** {@inheritDoc} */
  @Override
  public Stream<Map.Entry<K, V>> scan(K prefix) {
    String p = typed.key(prefix, false);
    checkOpen();
    return read(p, Text.successorOfPrefix(p));
  }

  /**
   * {@inheritDoc}
   *
   * <p>On SQLite the entries are read with one indexed SELECT on a pooled connection (one read
   * transaction, so a batch is never half visible) and materialized before this returns; before
   * returning, the scan checks under the writer lock whether another connection committed, so that
   * the cache has taken in any such change the scan showed. The stream holds no connection, lock or
   * transaction. Measured on 1M entries: a 10k-entry range in 7 ms, the whole store in about 0.8 s.
   *
   * @throws SchemaException if another tool changed the SQLite kv table's schema or added a trigger
   */
  @Override
  public Stream<Map.Entry<K, V>> range(K from, K to) {
    String lo = from == null ? null : typed.key(from, false);
    String hi = to == null ? null : typed.key(to, false);
    checkOpen();
    return read(lo, hi);
  }

  private Stream<Map.Entry<K, V>> read(String lo, String hi) {
    List<Map.Entry<String, String>> entries;
    try {
      entries = backend.range(lo, hi);
    } catch (RuntimeException e) {
      throw closedOr(e);
    }
    // Decoded here, not lazily in the stream: a stored entry the codecs cannot read is reported by
    // range itself, as its javadoc says, and never halfway through a caller's pipeline.
    List<Map.Entry<K, V>> decoded = new ArrayList<>(entries.size());
    for (Map.Entry<String, String> e : entries) {
      decoded.add(
          new AbstractMap.SimpleImmutableEntry<>(
              typed.decodeKey(e.getKey()), typed.value(e.getKey(), e.getValue())));
    }
    return decoded.stream();
  }

  /** {@inheritDoc} */
  @Override
  public int size() {
    checkOpen();
    int size = backend.size();
    checkOpen();
    return size;
  }

  /** {@inheritDoc} */
  @Override
  public ConcurrentMap<K, V> asMap() {
    return new MapView<>(this);
  }

  /** What a key holds now: its stored text and the value decoded from it. */
  record Current<V>(String key, String text, V value) {}

  /** For {@link MapView}: the key's current text and value, or null if absent. */
  Current<V> current(K key) {
    String k = typed.key(key, false);
    checkOpen();
    String text;
    try {
      text = backend.get(k);
    } catch (RuntimeException e) {
      throw closedOr(e);
    }
    checkOpen();
    return text == null ? null : new Current<>(k, text, typed.value(k, text));
  }

  /**
   * For {@link MapView}: replaces exactly the text {@code now} was read with by {@code newValue}
   * (null: removes the key), atomically; false if the key no longer holds that text.
   */
  boolean swap(Current<V> now, V newValue) {
    String n = newValue == null ? null : typed.encodeValue(newValue);
    if (n != null) {
      backend.checkKey(now.key(), true);
    }
    checkOpen();
    return backend.compareAndSet(now.key(), now.text(), n);
  }

  /**
   * Calls {@code action} for every entry, in no particular order (SQLite: from a copy of the cache
   * taken between two commits; PostgreSQL: from one read of the table): it sees every committed
   * write, batch or reload entirely or not at all. Racing {@link #close()}, it visits every entry
   * or throws {@link StoreClosedException} before visiting any.
   *
   * @param action called with each key and its value
   * @throws CorruptValueException if a stored key or value cannot be decoded by its codec
   * @throws StoreClosedException if the store is closed
   */
  public void forEach(BiConsumer<? super K, ? super V> action) {
    Objects.requireNonNull(action, "action");
    checkOpen();
    Map<String, String> copy;
    try {
      copy = backend.snapshot();
    } catch (RuntimeException e) {
      throw closedOr(e);
    }
    checkOpen(); // close() empties the cache after marking the store closed: never hand out part
    copy.forEach((k, v) -> action.accept(typed.decodeKey(k), typed.value(k, v)));
  }

  /**
   * Writes a consistent copy of the store to {@code target} while writers go on, and returns once
   * it is durable. On SQLite the copy is made with {@code VACUUM INTO} from one read transaction,
   * into a hidden temporary file beside the target (owner-only permissions), fsynced, hard-linked
   * into place and its directory fsynced: {@code target} either does not exist or is complete, and
   * a file is never replaced, not even one created at {@code target} while the backup runs. To
   * restore, open the copy (or move it into place while the store is closed).
   *
   * @param target the file to create; it must not exist
   * @throws IllegalArgumentException if {@code target} exists (a backup never overwrites) or its
   *     directory does not
   * @throws KVLogException if the file system failed, if {@code target} appeared while the backup
   *     was written, or if the target's file system has no hard links; no file is left behind
   * @throws UnsupportedOperationException if the backend has no backup (PostgreSQL: use pg_dump)
   * @throws StoreClosedException if the store is closed
   */
  public void backup(Path target) {
    Objects.requireNonNull(target, "target");
    require(Capability.BACKUP, "backup", "use the server's own tools, such as pg_dump");
    backend.backup(target);
  }

  /**
   * Runs SQLite's full {@code PRAGMA integrity_check} on a store file that need not be openable (a
   * damaged one, say), through a read-only connection that changes nothing and creates no {@code
   * -wal} or {@code -shm} (so it also works on a closed store in a read-only directory); safe while
   * another process has the store open. The path is resolved as the OS resolves it.
   *
   * @param file the store's database file
   * @return the problems found (at most 100), empty if the file is sound
   * @throws StoreOpenException if {@code file} does not exist
   */
  public static List<String> check(Path file) {
    Objects.requireNonNull(file, "file");
    String url = Backends.SQLITE_PREFIX + file;
    return Backends.provider(url).check(url);
  }

  /**
   * Runs the backend's full integrity check while the store stays in use (SQLite: {@code PRAGMA
   * integrity_check} on a pooled connection, in one read transaction).
   *
   * @return the problems found (at most 100), empty if the store is sound
   * @throws KVLogException if the file cannot be read
   * @throws UnsupportedOperationException if the backend has no such check (PostgreSQL)
   * @throws StoreClosedException if the store is closed
   */
  public List<String> check() {
    require(Capability.INTEGRITY_CHECK, "check", "use the server's own tools, such as amcheck");
    try {
      return backend.check();
    } catch (RuntimeException e) {
      throw closedOr(e);
    }
  }

  /**
   * Brings the cache in line with changes other connections committed, now, rather than within
   * {@link Builder#externalChangeCheck the polling interval}. Waits for a write in progress. On
   * PostgreSQL the change feed does this continuously, and this returns false.
   *
   * @return true if the cache changed
   * @throws CorruptValueException if another connection stored a key or value that is not valid
   *     UTF-8 (the message names it and the repair); the cache keeps its last good state and writes
   *     are refused until the row is repaired
   * @throws SchemaException if another tool changed the kv table's schema or added a trigger
   * @throws StoreClosedException if the store is closed
   */
  public boolean refresh() {
    checkOpen();
    return backend.refresh();
  }

  /**
   * The schema version recorded in the store.
   *
   * @return the store's schema version
   * @throws StoreClosedException if the store is closed
   */
  public int schemaVersion() {
    checkOpen();
    return backend.schemaVersion();
  }

  /**
   * A snapshot of the store's size and files.
   *
   * @return the figures as of this call
   * @throws UnsupportedOperationException if the backend keeps no statistics (PostgreSQL)
   * @throws StoreClosedException if the store is closed
   */
  public KVLogStats stats() {
    require(Capability.STATS, "stats", "use size() and schemaVersion()");
    return KVLogStats.of(backend.stats());
  }

  /**
   * The database file. Answers on a closed store too (to reopen it, say).
   *
   * @return the store's database file
   * @throws UnsupportedOperationException if the store is not a local file (PostgreSQL)
   */
  public Path path() {
    if (!backend.capabilities().contains(Capability.LOCAL_FILE)) {
      throw new UnsupportedOperationException(
          "path() is not available for "
              + where
              + ", which is not a local file; use the JDBC URL the store was opened with");
    }
    return backend.file();
  }

  /**
   * An asynchronous view of this store. Writes run on virtual threads on JDK 21 and later, and on a
   * cached pool of daemon threads before that; the executor is shut down by {@link #close()}, after
   * which the view's writes complete with {@link StoreClosedException}.
   *
   * @return an asynchronous view that shares this store's state
   * @throws StoreClosedException if the store is closed
   */
  public AsyncKVStore<K, V> async() {
    checkOpen();
    ExecutorService executor = defaultExecutor;
    if (executor == null) {
      synchronized (this) {
        checkOpen();
        executor = defaultExecutor;
        if (executor == null) {
          executor = defaultExecutor = AsyncView.newDefaultExecutor();
        }
      }
    }
    return async(executor);
  }

  /**
   * An asynchronous view of this store whose writes run on {@code executor}.
   *
   * @param executor runs the writes
   * @return an asynchronous view that shares this store's state
   */
  public AsyncKVStore<K, V> async(Executor executor) {
    Objects.requireNonNull(executor, "executor");
    return new AsyncView<>(this, executor, () -> closed ? closedException() : null);
  }

  /**
   * Waits for writes in progress and releases everything the store holds (SQLite: checkpoints and
   * truncates the WAL, closes the connections and releases the owner lock; PostgreSQL: stops the
   * change feed and closes the pool). Idempotent.
   *
   * @throws KVLogException if a resource could not be released (the others still are; further
   *     failures are suppressed into the first)
   */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    try {
      backend.close();
    } finally {
      ExecutorService executor = defaultExecutor;
      if (executor != null) {
        executor.shutdown();
      }
    }
  }

  @Override
  public String toString() {
    return "KVLog[" + where + (closed ? ", closed]" : ", " + backend.size() + " entries]");
  }

  /** Where the store is: its file, or its URL without secrets (for {@link KVLogMetrics}' tag). */
  String where() {
    return where;
  }

  /** The optional abilities of the backend (for {@link KVLogMetrics}). */
  Set<Capability> capabilities() {
    return backend.capabilities();
  }

  /** For tests: the backend under this facade. */
  Backend backend() {
    return backend;
  }

  private void checkOpen() {
    if (closed) {
      throw closedException();
    }
  }

  private void require(Capability capability, String operation, String instead) {
    checkOpen();
    if (!backend.capabilities().contains(capability)) {
      throw new UnsupportedOperationException(
          operation + "() is not available for " + where + "; " + instead);
    }
  }

  /** A failure racing close() is reported as the store being closed, the failure suppressed. */
  private RuntimeException closedOr(RuntimeException e) {
    if (!closed) {
      return e;
    }
    StoreClosedException c = closedException();
    c.addSuppressed(e);
    return c;
  }

  private StoreClosedException closedException() {
    return new StoreClosedException(
        where + " is closed; open it again with KVLog.open, KVLog.connect or KVLog.builder");
  }

  /**
   * Options for opening a store. An option belongs to a backend ({@link #busyTimeout}, {@link
   * #groupCommit}, {@link #externalChangeCheck} and {@link #verifyOnOpen} to SQLite, {@link
   * #poolSize} to PostgreSQL); opening refuses an option the store's backend does not use, rather
   * than ignore it. Not thread-safe; the store copies what it needs, so changing a builder after
   * {@link #open()} does not affect the store.
   */
  public static final class Builder<K, V> {
    private final String url;
    private final Codec<K> keys;
    private final Codec<V> values;
    private Duration busyTimeout;
    private Boolean groupCommit;
    private Duration externalChangeCheck;
    private Boolean verifyOnOpen;
    private Integer poolSize;
    private final Map<String, String> properties = new LinkedHashMap<>();

    private Builder(String url, Codec<K> keys, Codec<V> values) {
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
    public Builder<K, V> busyTimeout(Duration timeout) {
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
    public Builder<K, V> groupCommit(boolean enabled) {
      this.groupCommit = enabled;
      return this;
    }

    /**
     * SQLite: how often the store looks for changes that other connections (a {@code sqlite3}
     * shell, a migration tool) committed to the database while no one writes through this store; a
     * change found reloads the cache. Default 1 second; zero turns the polling off. Every write
     * checks before it commits regardless, so writes are always decided against the current table.
     *
     * @param interval the time between checks; zero for none
     * @return this builder
     * @throws IllegalArgumentException if negative
     */
    public Builder<K, V> externalChangeCheck(Duration interval) {
      Objects.requireNonNull(interval, "interval");
      if (interval.isNegative()) {
        throw new IllegalArgumentException("externalChangeCheck must not be negative: " + interval);
      }
      this.externalChangeCheck = interval;
      return this;
    }

    /**
     * SQLite: whether opening runs SQLite's {@code PRAGMA quick_check} over the whole file first,
     * refusing a damaged store with a message that names the damage (default true). It reads every
     * page once: about 0.1 s per million entries here, some 20% of the load that follows.
     *
     * @param enabled false to skip the check
     * @return this builder
     */
    public Builder<K, V> verifyOnOpen(boolean enabled) {
      this.verifyOnOpen = enabled;
      return this;
    }

    /**
     * PostgreSQL: connections for writes and reloads (default 8), plus one of its own for the
     * change feed.
     *
     * @param connections the pool's size
     * @return this builder
     * @throws IllegalArgumentException if not between 1 and 1000
     */
    public Builder<K, V> poolSize(int connections) {
      if (connections < 1 || connections > 1000) {
        throw new IllegalArgumentException(
            "poolSize must be between 1 and 1000, was " + connections);
      }
      this.poolSize = connections;
      return this;
    }

    /**
     * Test hook: runs with {@code synchronous=mode} instead of refusing it. Only the power-cut
     * tests use it, to show that their check catches the writes such a store loses.
     */
    Builder<K, V> weakSynchronousForTests(String mode) {
      properties.put("pragma.synchronous", mode);
      properties.put("weakSynchronousForTests", "true");
      return this;
    }

    /** Test hook: an extra per-connection SQLite pragma, set as a driver property. */
    Builder<K, V> pragma(String name, String value) {
      properties.put("pragma." + name, value);
      return this;
    }

    /**
     * Opens the store. On SQLite: resolves symbolic links (every file of the store is named after
     * the real file), checks an existing file without changing it, takes the owner lock, creates
     * the file owner-only if it is new, checks the connections' pragmas, applies pending migrations
     * and loads the table into memory; a refused file is left byte-identical, with no {@code -wal},
     * {@code -shm} or {@code -lock} file left beside it. On PostgreSQL: connects, refuses a server
     * that may lose commits ({@code fsync=off}), applies pending migrations, starts the change feed
     * and loads the table.
     *
     * @return the open store; close it when done
     * @throws IllegalArgumentException if no backend accepts the URL, or an option set does not
     *     belong to its backend
     * @throws StoreOpenException if the path cannot hold a store (a directory, a symbolic link into
     *     a missing directory, an unwritable directory, a mount point of its own, a {@code -lock},
     *     {@code -wal} or {@code -shm} name that is a link or a directory, a lock file that cannot
     *     be created), or the file is not a KVLog store, is damaged, has more than one hard link,
     *     or SQLite's own lock is held by another connection past {@code busyTimeout}; or the
     *     server cannot be reached or is configured to lose commits
     * @throws StoreLockedException if another process or store object has the SQLite file open
     * @throws SchemaException if the store's schema is newer than this build or a migration failed
     */
    public KVLog<K, V> open() {
      Settings settings =
          new Settings(
              busyTimeout, groupCommit, externalChangeCheck, verifyOnOpen, poolSize, properties);
      return new KVLog<>(Backends.open(url, settings), keys, values);
    }

    @Override
    public String toString() {
      return "KVLog.Builder[" + Secrets.redact(url) + "]";
    }
  }
}
