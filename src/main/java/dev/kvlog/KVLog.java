package dev.kvlog;

import dev.kvlog.internal.Backup;
import dev.kvlog.internal.CommitLog;
import dev.kvlog.internal.CommitStats;
import dev.kvlog.internal.Database;
import dev.kvlog.internal.Errors;
import dev.kvlog.internal.Housekeeper;
import dev.kvlog.internal.Migrations;
import dev.kvlog.internal.OwnerLock;
import dev.kvlog.internal.Resources;
import dev.kvlog.internal.StoreFiles;
import dev.kvlog.internal.Text;
import dev.kvlog.internal.WarmCache;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * A {@link KVStore} whose log is a SQLite database and whose reads come from a warm in-memory
 * cache.
 *
 * <h2>Design</h2>
 *
 * <p><b>The log.</b> The store is one SQLite table, {@code kv(key TEXT NOT NULL PRIMARY KEY, value
 * TEXT NOT NULL) STRICT, WITHOUT ROWID}, in WAL journal mode with {@code synchronous=FULL},
 * verified on every pooled connection at open. Writes queue for a single writer; whoever holds it
 * commits everything queued as one transaction (group commit), and SQLite appends the changed pages
 * and a commit frame to the {@code -wal} file and fsyncs it before any of those calls returns.
 * Every write is decided inside SQLite's write lock ({@code BEGIN IMMEDIATE}, then a check for
 * other connections' commits, then the decision), so a prior value, compare-and-set or {@code
 * setIfAbsent} always sees the table as it is, even when a {@code sqlite3} shell commits while the
 * write waits for the lock.
 *
 * <p><b>The cache.</b> Opening reads the whole table into a concurrent map of encoded keys to
 * encoded values; {@code get} is a map lookup and a decode and never touches the disk. Writes are
 * serialized by a single writer lock; the cache changes only after the commit returned and before
 * the lock is released, each committed group (or reload of other connections' changes) in one
 * atomic publication. Therefore no thread ever sees a value that is not durable or part of a
 * transaction, the prior value a write returns is the one the log held, and the cache always equals
 * what a reopen would read. Scans read SQLite, ordered with the cache so that no later {@code get}
 * contradicts a scan. Stored text that a codec cannot decode is reported as {@link
 * CorruptValueException} naming the key; a write whose prior value cannot be decoded is refused
 * before it changes anything.
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
 * <p><b>Ownership.</b> One store object in one process owns the files, enforced by an OS lock on
 * {@code <file>-lock}. Other processes may read the database with {@code sqlite3} at any time.
 *
 * <p>Thread-safe: share one instance among all threads, virtual threads and async tasks.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class KVLog<K, V> implements KVStore<K, V> {
  private final Path path;
  private final Codec<K> keys;
  private final Codec<V> values;
  private final OwnerLock ownerLock;
  private final Database database;
  private final WarmCache cache;
  private final CommitLog commitLog;
  private final Housekeeper housekeeper;
  private final CommitStats commitStats;
  private final int schemaVersion;
  private volatile boolean closed;
  private volatile ExecutorService defaultExecutor; // created on the first async() call

  private KVLog(
      Builder<K, V> b,
      OwnerLock ownerLock,
      Database database,
      CommitLog commitLog,
      Housekeeper housekeeper,
      CommitStats commitStats,
      int schemaVersion) {
    this.path = b.path;
    this.keys = b.keys;
    this.values = b.values;
    this.ownerLock = ownerLock;
    this.database = database;
    this.cache = commitLog.cache();
    this.commitLog = commitLog;
    this.housekeeper = housekeeper;
    this.commitStats = commitStats;
    this.schemaVersion = schemaVersion;
  }

  /**
   * Opens (creating if needed) the store at {@code file} with String keys and values and default
   * options.
   *
   * @throws StoreOpenException if the path cannot hold a store, or the file is not a KVLog store
   * @throws StoreLockedException if another process or store object has it open
   * @throws SchemaException if the store's schema is newer than this build
   */
  public static KVLog<String, String> load(Path file) {
    return builder(file).open();
  }

  /**
   * Opens the store a JDBC URL names, with String keys and values and default options: {@code
   * jdbc:sqlite:<file>} opens a KVLog file as {@link #load} does; {@code jdbc:postgresql:...} opens
   * a {@link PostgresKVStore} (the PostgreSQL driver must be on the class path). Code written
   * against {@link KVStore} runs on either.
   *
   * @throws IllegalArgumentException for any other URL
   */
  public static KVStore<String, String> connect(String jdbcUrl) {
    Objects.requireNonNull(jdbcUrl, "jdbcUrl");
    if (jdbcUrl.startsWith("jdbc:sqlite:")) {
      return load(Path.of(jdbcUrl.substring("jdbc:sqlite:".length())));
    }
    if (jdbcUrl.startsWith("jdbc:postgresql:")) {
      return PostgresKVStore.builder(jdbcUrl).open();
    }
    throw new IllegalArgumentException(
        "unsupported JDBC URL "
            + PostgresKVStore.redact(jdbcUrl)
            + "; use jdbc:sqlite:<file> or jdbc:postgresql://host/database");
  }

  /** A builder for a store of String keys and values at {@code file}. */
  public static Builder<String, String> builder(Path file) {
    return builder(file, Codecs.string(), Codecs.string());
  }

  /** A builder for a store at {@code file} whose keys and values are converted by codecs. */
  public static <K, V> Builder<K, V> builder(Path file, Codec<K> keys, Codec<V> values) {
    return new Builder<>(file, keys, values);
  }

  /**
   * {@inheritDoc} Never returns part of a committed batch, group or reload; after (or racing)
   * {@link #close()} it throws rather than answer from an emptied cache.
   *
   * @throws CorruptValueException if the stored value cannot be decoded by the value codec (the
   *     message names the key)
   */
  @Override
  public Optional<V> get(K key) {
    String k = encodeKey(key);
    checkOpen();
    String v = cache.get(k);
    checkOpen(); // close() empties the cache after marking the store closed: never report empty
    return decode(k, v);
  }

  /**
   * {@inheritDoc}
   *
   * @throws WriteFailedException if the write failed: with {@link
   *     WriteFailedException#outcomeUnknown()} false the table is unchanged (this includes a prior
   *     value the codec cannot decode, with the {@link CorruptValueException} as cause); with it
   *     true the write may or may not have been applied
   */
  @Override
  public Optional<V> set(K key, V value) {
    String k = encodeKey(key);
    Objects.requireNonNull(value, "value must not be null; use delete(key) to remove a key");
    String v = encodeValue(value);
    checkOpen();
    return Optional.ofNullable(commitLog.set(k, v, text -> decodeValue(k, text)));
  }

  /**
   * {@inheritDoc}
   *
   * @throws WriteFailedException if the write failed: with {@link
   *     WriteFailedException#outcomeUnknown()} false the table is unchanged (this includes a prior
   *     value the codec cannot decode, with the {@link CorruptValueException} as cause); with it
   *     true the write may or may not have been applied
   */
  @Override
  public Optional<V> delete(K key) {
    String k = encodeKey(key);
    checkOpen();
    return Optional.ofNullable(commitLog.delete(k, text -> decodeValue(k, text)));
  }

  /**
   * {@inheritDoc}
   *
   * @throws WriteFailedException if the write failed: with {@link
   *     WriteFailedException#outcomeUnknown()} false the table is unchanged (this includes a prior
   *     value the codec cannot decode, with the {@link CorruptValueException} as cause); with it
   *     true the write may or may not have been applied
   */
  @Override
  public Optional<V> setIfAbsent(K key, V value) {
    String k = encodeKey(key);
    String v = encodeValue(value);
    checkOpen();
    return Optional.ofNullable(commitLog.setIfAbsent(k, v, text -> decodeValue(k, text)));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Here the comparison is against the text in the {@code kv} table, byte for byte, with {@code
   * expected} encoded by the value codec: for {@link Codecs#json} a row another tool wrote as
   * {@code {"b":2,"a":1}} does not match an {@code expected} that encodes as {@code {"a":1,"b":2}},
   * even if {@code expected} is what {@link #get} returned for it.
   *
   * @throws WriteFailedException if the change could not be committed: unchanged if {@link
   *     WriteFailedException#outcomeUnknown()} is false, otherwise it may or may not have been
   *     applied
   */
  @Override
  public boolean compareAndSet(K key, V expected, V newValue) {
    String k = encodeKey(key);
    String e = expected == null ? null : encodeValue(expected);
    String n = newValue == null ? null : encodeValue(newValue);
    checkOpen();
    return commitLog.compareAndSet(k, e, n);
  }

  /**
   * Applies every change of {@code batch}, in order, in one transaction with one fsync: all of them
   * or none. Returns once they are durable; no reader sees some of them without the others. An
   * empty batch writes nothing.
   *
   * @throws IllegalArgumentException if a key or value is not valid UTF-16 (nothing is written)
   * @throws WriteFailedException if the log could not commit the batch; the store is unchanged
   * @throws StoreClosedException if the store is closed
   */
  public void write(WriteBatch<K, V> batch) {
    Objects.requireNonNull(batch, "batch");
    List<CommitLog.Change> changes = new ArrayList<>(batch.size());
    batch.forEach(
        (k, v) ->
            changes.add(new CommitLog.Change(encodeKey(k), v == null ? null : encodeValue(v))));
    checkOpen();
    commitLog.write(changes);
  }

  /**
   * The entries whose encoded keys start with the encoding of {@code prefix}, in key order
   * (SQLite's order: Unicode code points of the encoded key), from a consistent snapshot.
   *
   * @see #range(Object, Object)
   */
  public Stream<Map.Entry<K, V>> scan(K prefix) {
    String p = encodeKey(prefix);
    checkOpen();
    return read(p, Text.successorOfPrefix(p));
  }

  /**
   * The entries with {@code from <= key < to}, in key order, from a consistent snapshot. They are
   * read with one indexed SELECT on a pooled connection (one read transaction, so a batch is never
   * half visible; no later {@code get} returns an older value than the scan showed) and
   * materialized before this returns. Before returning, the scan checks under the writer lock
   * (waiting for a commit in progress) whether another connection committed, so that the cache has
   * taken in any such change the scan showed. Writers wait for a scan only while it starts its read
   * transaction, and the stream holds no connection, lock or transaction, so it can neither leak
   * one nor hold back a checkpoint; closing it is optional. Measured on 1M entries: a 10k-entry
   * range in 7 ms, the whole store in about 0.8 s; copying from the cache instead took 80 ms for
   * any range, with writers blocked meanwhile.
   *
   * @param from lowest key, inclusive; null for no lower bound
   * @param to highest key, exclusive; null for no upper bound
   * @throws CorruptValueException if a stored entry cannot be decoded by its codec, or another
   *     connection stored text that is not valid UTF-8
   * @throws SchemaException if another tool changed the kv table's schema or added a trigger, so
   *     its changes cannot be taken into the cache (the message names the fix)
   * @throws KVLogException if interrupted while waiting for a commit in progress, or SQLite failed
   * @throws StoreClosedException if the store is closed
   */
  public Stream<Map.Entry<K, V>> range(K from, K to) {
    String lo = from == null ? null : encodeKey(from);
    String hi = to == null ? null : encodeKey(to);
    checkOpen();
    return read(lo, hi);
  }

  private Stream<Map.Entry<K, V>> read(String lo, String hi) {
    List<Map.Entry<String, String>> entries;
    try (Connection c = database.connection()) {
      entries = commitLog.readConsistent(c, snapshot -> Database.range(snapshot, lo, hi));
    } catch (SQLException | RuntimeException e) {
      if (closed) { // close() ran meanwhile: the pool refused, or SQLite was closed under us
        StoreClosedException c = closedException();
        c.addSuppressed(e);
        throw c;
      }
      if (e instanceof RuntimeException) {
        throw (RuntimeException) e;
      }
      throw new KVLogException(Errors.describe(path, (SQLException) e), e);
    }
    return entries.stream()
        .map(
            e ->
                new AbstractMap.SimpleImmutableEntry<>(
                    decodeKey(e.getKey()), decodeValue(e.getKey(), e.getValue())));
  }

  /**
   * Writes a consistent copy of the store to {@code target} while writers go on, and returns once
   * it is durable. The copy is made with SQLite's {@code VACUUM INTO} from one read transaction,
   * into a hidden temporary file beside the target (owner-only permissions), fsynced, hard-linked
   * into place and its directory fsynced: {@code target} either does not exist or is complete, and
   * a file is never replaced, not even one created at {@code target} while the backup runs. To
   * restore, open the copy (or move it into place while the store is closed).
   *
   * @throws IllegalArgumentException if {@code target} exists (a backup never overwrites) or its
   *     directory does not
   * @throws KVLogException if SQLite or the file system failed, if {@code target} appeared while
   *     the backup was written, or if the target's file system has no hard links; no file is left
   *     behind
   * @throws StoreClosedException if the store is closed
   */
  public void backup(Path target) {
    Objects.requireNonNull(target, "target");
    checkOpen();
    Backup.write(database, path, target);
  }

  /**
   * Runs SQLite's full {@code PRAGMA integrity_check} on a store file that need not be openable (a
   * damaged one, say), through a read-only connection that changes nothing and creates no {@code
   * -wal} or {@code -shm} (so it also works on a closed store in a read-only directory); safe while
   * another process has the store open. The path is resolved as the OS resolves it.
   *
   * @return the problems found (at most 100), empty if the file is sound
   * @throws StoreOpenException if {@code file} does not exist
   */
  public static List<String> check(Path file) {
    return Database.checkFile(StoreFiles.existingFile(file));
  }

  /**
   * Runs SQLite's full {@code PRAGMA integrity_check} on the database file while the store stays in
   * use (on a pooled connection, in one read transaction).
   *
   * @return the problems found (at most 100), empty if the file is sound
   * @throws KVLogException if the file cannot be read
   * @throws StoreClosedException if the store is closed
   */
  public List<String> check() {
    checkOpen();
    try (Connection c = database.connection()) {
      return Database.check(c, true);
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    }
  }

  /**
   * Brings the cache in line with changes other connections committed, now, rather than within
   * {@link Builder#externalChangeCheck the polling interval}. Waits for a write in progress.
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
    return commitLog.syncExternalChanges();
  }

  /**
   * The number of entries.
   *
   * @throws StoreClosedException if the store is closed
   */
  public int size() {
    checkOpen();
    int size = cache.size();
    checkOpen();
    return size;
  }

  /**
   * Calls {@code action} for every entry, in no particular order, from a copy of the cache taken
   * between two commits: it sees every committed write, batch or reload entirely or not at all (the
   * copy is made without blocking writers unless they commit throughout; then under the writer
   * lock). Racing {@link #close()}, it visits every entry or throws {@link StoreClosedException}
   * before visiting any.
   *
   * @throws CorruptValueException if a stored key or value cannot be decoded by its codec
   * @throws StoreClosedException if the store is closed
   */
  public void forEach(BiConsumer<? super K, ? super V> action) {
    Objects.requireNonNull(action, "action");
    checkOpen();
    Map<String, String> copy = commitLog.cacheCopy();
    checkOpen(); // close() empties the cache after marking the store closed: never hand out part
    copy.forEach((k, v) -> action.accept(decodeKey(k), decodeValue(k, v)));
  }

  /**
   * A snapshot of the store's size and files.
   *
   * @throws StoreClosedException if the store is closed
   */
  public KVLogStats stats() {
    checkOpen();
    return new KVLogStats(
        path,
        cache.size(),
        sizeOf(path),
        sizeOf(walFile()),
        schemaVersion,
        commitStats.commits(),
        commitStats.operations(),
        commitStats.largestGroup(),
        commitStats.latencyMicros(0.50),
        commitStats.latencyMicros(0.99),
        commitStats.checkpoints(),
        commitStats.externalReloads());
  }

  /** The database file. */
  public Path path() {
    return path;
  }

  /**
   * An asynchronous view of this store. Writes run on virtual threads on JDK 21 and later, and on a
   * cached pool of daemon threads before that; the executor is shut down by {@link #close()}, after
   * which the view's writes complete with {@link StoreClosedException}.
   *
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
          executor = defaultExecutor = newDefaultExecutor();
        }
      }
    }
    return async(executor);
  }

  /** An asynchronous view of this store whose writes run on {@code executor}. */
  public AsyncKVStore<K, V> async(Executor executor) {
    Objects.requireNonNull(executor, "executor");
    return new AsyncKVStore<>() {
      @Override
      public CompletableFuture<Optional<V>> get(K key) {
        return call(() -> KVLog.this.get(key), Runnable::run);
      }

      @Override
      public CompletableFuture<Optional<V>> set(K key, V value) {
        return call(() -> KVLog.this.set(key, value), executor);
      }

      @Override
      public CompletableFuture<Optional<V>> delete(K key) {
        return call(() -> KVLog.this.delete(key), executor);
      }
    };
  }

  private <T> CompletableFuture<T> call(Supplier<T> op, Executor executor) {
    try {
      return CompletableFuture.supplyAsync(op, executor);
    } catch (RejectedExecutionException e) {
      // The default executor is shut down by close(); a caller's executor may refuse for its own
      // reasons.
      return CompletableFuture.failedFuture(closed ? closedException() : e);
    }
  }

  /**
   * Waits for the write in progress, checkpoints and truncates the WAL, closes the connections and
   * releases the owner lock. Idempotent.
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
      Resources.closeAll(
          "failed to close " + path + " cleanly", housekeeper, commitLog, database, ownerLock);
    } finally {
      ExecutorService executor = defaultExecutor;
      if (executor != null) {
        executor.shutdown();
      }
      cache.clear();
    }
  }

  @Override
  public String toString() {
    return "KVLog[" + path + (closed ? ", closed]" : ", " + cache.size() + " entries]");
  }

  private String encodeKey(K key) {
    Objects.requireNonNull(key, "key must not be null");
    return Text.requireValidUtf16(keys.encode(key), "key");
  }

  private String encodeValue(V value) {
    Objects.requireNonNull(value, "value must not be null; use delete(key) to remove a key");
    return Text.requireValidUtf16(values.encode(value), "value");
  }

  private Optional<V> decode(String key, String text) {
    return text == null ? Optional.empty() : Optional.of(decodeValue(key, text));
  }

  /**
   * Decodes a stored value: the one place values are decoded (get, priors, scans, forEach). A codec
   * that fails, or that returns null (say JSON's {@code null} literal, which no {@code set} stores
   * since values are never null), cannot decode the text: {@link CorruptValueException}.
   */
  private V decodeValue(String key, String text) {
    V value;
    try {
      value = values.decode(text);
    } catch (KVLogException e) {
      throw e;
    } catch (RuntimeException e) {
      throw undecodableValue(key, e.getMessage(), e);
    }
    if (value == null) {
      throw undecodableValue(key, "it decodes to null, and a stored value is never null", null);
    }
    return value;
  }

  private CorruptValueException undecodableValue(String key, String why, Throwable cause) {
    return new CorruptValueException(
        "the stored value of key "
            + Text.excerpt(key)
            + " in "
            + path
            + " cannot be decoded by "
            + values
            + " ("
            + why
            + "); another tool may have edited it, or the value type changed. Replace it with"
            + " a WriteBatch (which returns no prior value) or repair the row with sqlite3",
        cause);
  }

  /** Decodes a stored key; as {@link #decodeValue}, a codec returning null cannot decode it. */
  private K decodeKey(String text) {
    K key;
    try {
      key = keys.decode(text);
    } catch (KVLogException e) {
      throw e;
    } catch (RuntimeException e) {
      throw undecodableKey(text, e.getMessage(), e);
    }
    if (key == null) {
      throw undecodableKey(text, "it decodes to null, and a key is never null", null);
    }
    // A key another tool wrote in another text form (JSON with its fields reordered, say) decodes,
    // but get, set and delete of that key address the codec's own text: a different row.
    String canonical;
    try {
      canonical = keys.encode(key);
    } catch (RuntimeException e) {
      canonical = null;
    }
    if (!text.equals(canonical)) {
      throw undecodableKey(
          text,
          "the codec writes that key as "
              + (canonical == null ? "nothing (it cannot encode it)" : Text.excerpt(canonical))
              + ", so get, set and delete of it would address another row; rewrite the row's key"
              + " in that form",
          null);
    }
    return key;
  }

  private CorruptValueException undecodableKey(String text, String why, Throwable cause) {
    return new CorruptValueException(
        "the stored key "
            + Text.excerpt(text)
            + " in "
            + path
            + " cannot be decoded by "
            + keys
            + " ("
            + why
            + "); delete it with a WriteBatch of the encoded key's codec, or with sqlite3",
        cause);
  }

  private void checkOpen() {
    if (closed) {
      throw closedException();
    }
  }

  private StoreClosedException closedException() {
    return new StoreClosedException(
        path + " is closed; open it again with KVLog.load or KVLog.builder");
  }

  private Path walFile() {
    return path.resolveSibling(path.getFileName() + "-wal");
  }

  private static long sizeOf(Path file) {
    try {
      return Files.size(file);
    } catch (java.io.IOException e) {
      return 0;
    }
  }

  private static ExecutorService newDefaultExecutor() {
    try { // JDK 21+: one virtual thread per task. Looked up reflectively: we compile for Java 17.
      return (ExecutorService)
          Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
    } catch (ReflectiveOperationException e) {
      AtomicInteger n = new AtomicInteger();
      return Executors.newCachedThreadPool(
          task -> {
            Thread t = new Thread(task, "kvlog-async-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
    }
  }

  /**
   * Options for opening a store. Not thread-safe; the store copies what it needs, so changing a
   * builder after {@link #open()} does not affect the store.
   */
  public static final class Builder<K, V> {
    /** The WAL size that starts a checkpoint, and the size a reset WAL is truncated to. */
    private static final long WAL_LIMIT_BYTES = 4L << 20;

    private final Path path;
    private final Codec<K> keys;
    private final Codec<V> values;
    private Duration busyTimeout = Duration.ofSeconds(5);
    private boolean groupCommit = true;
    private Duration externalChangeCheck = Duration.ofSeconds(1);
    private boolean weakSyncForTests;
    private boolean verifyOnOpen = true;
    private final Map<String, String> pragmas = new LinkedHashMap<>();

    private Builder(Path path, Codec<K> keys, Codec<V> values) {
      this.path = Objects.requireNonNull(path, "file must not be null");
      this.keys = Objects.requireNonNull(keys, "key codec must not be null");
      this.values = Objects.requireNonNull(values, "value codec must not be null");
    }

    /**
     * How long a write waits for SQLite's write lock when another connection (say, a {@code
     * sqlite3} shell writing to the file) holds it. Default 5 seconds; between 0 and 1 hour.
     *
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
     * Whether concurrent writes share a transaction (default true). With group commit, writers that
     * arrive while a commit is in progress are committed together in the next transaction, with one
     * fsync; each still returns only once its own change is durable, and a write that fails fails
     * alone. A lone writer is committed at once either way, so group commit adds no latency; turn
     * it off only to measure the difference.
     */
    public Builder<K, V> groupCommit(boolean enabled) {
      this.groupCommit = enabled;
      return this;
    }

    /**
     * How often the store looks for changes that other connections (a {@code sqlite3} shell, a
     * migration tool) committed to the database while no one writes through this store; a change
     * found reloads the cache. Default 1 second; zero turns the polling off. Every write checks
     * before it commits regardless, so writes are always decided against the current table.
     *
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
     * Whether opening runs SQLite's {@code PRAGMA quick_check} over the whole file first, refusing
     * a damaged store with a message that names the damage (default true). It reads every page
     * once: about 0.1 s per million entries here, some 20% of the load that follows.
     */
    public Builder<K, V> verifyOnOpen(boolean enabled) {
      this.verifyOnOpen = enabled;
      return this;
    }

    /**
     * Test hook: runs with {@code synchronous=mode} instead of refusing it. Only the power-cut
     * tests use it, to show that their check catches the writes such a store loses.
     */
    Builder<K, V> weakSynchronousForTests(String mode) {
      pragmas.put("synchronous", mode);
      weakSyncForTests = true;
      return this;
    }

    /** Test hook: an extra per-connection SQLite pragma, set as a driver property. */
    Builder<K, V> pragma(String name, String value) {
      pragmas.put(name, value);
      return this;
    }

    /**
     * Opens the store: resolves symbolic links (every file of the store is named after the real
     * file), checks an existing file without changing it, takes the owner lock, creates the file
     * owner-only if it is new, checks the connections' pragmas, applies pending migrations and
     * loads the table into memory. A refused file is left byte-identical, with no {@code -wal},
     * {@code -shm} or {@code -lock} file left beside it.
     *
     * @throws StoreOpenException if the path cannot hold a store (a directory, a symbolic link into
     *     a missing directory, an unwritable directory, a mount point of its own, a {@code -lock},
     *     {@code -wal} or {@code -shm} name that is a link or a directory, a lock file that cannot
     *     be created), or the file is not a KVLog store, is damaged, has more than one hard link,
     *     or SQLite's own lock is held by another connection past {@code busyTimeout}
     * @throws StoreLockedException if another process or store object has it open
     * @throws SchemaException if the store's schema is newer than this build or a migration failed
     */
    public KVLog<K, V> open() {
      // One owner per file, whatever the path: the real path names every file of the store.
      Path file = StoreFiles.checkPath(path);
      OwnerLock ownerLock = OwnerLock.reserve(file);
      boolean[] sidecars = null;
      Database database = null;
      try {
        // Refusing a file never changes it: up to ownerLock.lock() every step only reads, and
        // the checks run on a read-only connection before the pool switches the file to WAL.
        ownerLock.lockIfExists(); // a store owned elsewhere is refused before anything reads it
        boolean existed = Files.exists(file);
        StoreFiles.check(file);
        if (existed) {
          Database.checkIsStore(file, verifyOnOpen);
        }
        ownerLock.lock();
        sidecars = StoreFiles.sidecars(file);
        if (!existed && !StoreFiles.createIfMissing(file)) {
          // Created by someone else since the look above: check it now, as the owner.
          StoreFiles.check(file);
          Database.checkIsStore(file, verifyOnOpen);
        }
        ownerLock.reserveCreated();
        database = Database.open(file, busyTimeout, WAL_LIMIT_BYTES, pragmas, weakSyncForTests);
        Connection writer = database.connection();
        Housekeeper housekeeper = null;
        try {
          int version = Migrations.migrate(writer, file);
          CommitStats stats = new CommitStats();
          housekeeper =
              new Housekeeper(
                  file, database.connection(), WAL_LIMIT_BYTES, externalChangeCheck, stats);
          CommitLog log = CommitLog.open(file, writer, groupCommit, housekeeper, stats);
          return new KVLog<>(this, ownerLock, database, log, housekeeper, stats, version);
        } catch (SQLException | RuntimeException e) {
          if (housekeeper != null) {
            housekeeper.close();
          }
          writer.close();
          throw e;
        }
      } catch (SQLException | RuntimeException e) {
        if (database != null) {
          database.close();
        }
        if (sidecars != null) { // only as the owner: before that, the files may be another's
          StoreFiles.removeCreatedSidecars(file, sidecars);
        }
        ownerLock.closeRefused(); // deletes the lock file if this open created it
        if (e instanceof KVLogException) {
          throw (KVLogException) e;
        }
        if (e instanceof SQLException) {
          throw new StoreOpenException(Errors.describe(file, (SQLException) e), e);
        }
        throw (RuntimeException) e;
      }
    }
  }
}
