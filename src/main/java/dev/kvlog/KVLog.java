package dev.kvlog;

import dev.kvlog.spi.Backend;
import dev.kvlog.spi.Capability;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;

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
 * <p><b>The cache.</b> Opening reads the whole table into an in-memory table of encoded keys to
 * encoded values; {@code get} is a lookup and a decode and never touches the disk. The cache
 * changes only after the commit returned and before the writer lock is released, each committed
 * group (or reload of other connections' changes) in one atomic publication. Therefore no thread
 * ever sees a value that is not durable or part of a transaction, the prior value a write returns
 * is the one the log held, and the cache always equals what a reopen would read. Scans read the
 * database, ordered with the cache so that no later {@code get} contradicts a scan. Stored text
 * that a codec cannot decode is reported as {@link CorruptValueException} naming the key; a write
 * whose prior value cannot be decoded is refused before it changes anything.
 *
 * <p><b>The bounded cache ({@link KVLogBuilder#cacheSize}).</b> For stores larger than the heap,
 * the cache holds at most a given number of bytes (Caffeine's W-TinyLFU); open reads no rows; a get
 * of a key not cached reads its row on a pooled reader connection, and absent keys are cached too.
 * Writes put what they commit into the cache in the same atomic publication, and a miss installs
 * what it read only if no commit of that key can have come since its read began (versions per
 * stripe of keys, moved before each COMMIT), so a racing miss never installs an older value and
 * never shows a commit before its publication. What differs: an outside commit drops the cache when
 * the store notices it, and until then a miss can read it while a cached key does not show it yet.
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
public final class KVLog<K, V> extends TypedStore<K, V> {
  private volatile ExecutorService defaultExecutor; // created on the first async() call

  KVLog(Backend backend, Codec<K> keys, Codec<V> values) {
    super(backend, keys, values);
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
  public static KVLogBuilder<String, String> builder(Path file) {
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
  public static <K, V> KVLogBuilder<K, V> builder(Path file, Codec<K> keys, Codec<V> values) {
    Objects.requireNonNull(file, "file must not be null");
    return new KVLogBuilder<>(Backends.sqliteUrl(file), keys, values);
  }

  /**
   * A builder for the store a JDBC URL names ({@code jdbc:sqlite:<file>} or {@code
   * jdbc:postgresql://host/database}), with String keys and values.
   *
   * @param jdbcUrl the store's URL
   * @return a builder with default options
   */
  public static KVLogBuilder<String, String> builder(String jdbcUrl) {
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
  public static <K, V> KVLogBuilder<K, V> builder(String jdbcUrl, Codec<K> keys, Codec<V> values) {
    Objects.requireNonNull(jdbcUrl, "jdbcUrl must not be null");
    return new KVLogBuilder<>(jdbcUrl, keys, values);
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
    String url = Backends.sqliteUrl(file);
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
   * {@link KVLogBuilder#externalChangeCheck the polling interval}. Waits for a write in progress.
   * On PostgreSQL the change feed does this continuously, and this returns false.
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
    return new AsyncView<>(this, executor, () -> isClosed() ? closedException() : null);
  }

  /**
   * Closes the open {@link Scan#pinned pinned} scans (their streams then throw {@link
   * StoreClosedException} when pulled, as paged ones do), then waits for writes in progress and
   * releases everything the store holds (SQLite: checkpoints and truncates the WAL, closes the
   * connections and releases the owner lock; PostgreSQL: stops the change feed and closes the
   * pool). Idempotent.
   *
   * @throws KVLogException if a resource could not be released (the others still are; further
   *     failures are suppressed into the first)
   */
  @Override
  public void close() {
    if (!markClosed()) {
      return;
    }
    try {
      RuntimeException cursors = null;
      try {
        lazyScans.closeAll(); // before the backend: an open cursor would keep the WAL (SQLite)
      } catch (RuntimeException e) {
        cursors = e;
      }
      try {
        backend.close();
      } catch (RuntimeException e) {
        if (cursors != null) {
          e.addSuppressed(cursors);
        }
        throw e;
      }
      if (cursors != null) {
        throw cursors;
      }
    } finally {
      ExecutorService executor = defaultExecutor;
      if (executor != null) {
        executor.shutdown();
      }
    }
  }

  @Override
  public String toString() {
    return "KVLog[" + where + (isClosed() ? ", closed]" : ", " + backend.size() + " entries]");
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
}
