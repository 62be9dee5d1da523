package dev.kvlog;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentMap;
import java.util.stream.Stream;

/**
 * A durable key-value store: reads come from memory, writes return once they are durable.
 *
 * <p>A write returns once it is durable, or throws {@link WriteFailedException} with the store
 * unchanged, or throws one whose {@link WriteFailedException#outcomeUnknown()} is true: the write
 * may or may not have been applied (a connection lost after COMMIT was sent, an I/O error during
 * the commit). Never anything else: an outcome that cannot be known is not reported as a failure.
 *
 * <p>Implementations are thread-safe: one instance may be shared by any number of platform threads,
 * virtual threads and asynchronous tasks without external locking.
 *
 * @param <K> key type
 * @param <V> value type
 */
public interface KVStore<K, V> extends AutoCloseable {

  /**
   * Returns the value stored under {@code key}. Answered from memory; with a bounded cache ({@link
   * KVLogBuilder#cacheSize}), a key that is not cached is read from the database.
   *
   * @param key the key to look up
   * @return the value stored under {@code key}, or empty if the key is absent
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if the encoded key is not valid UTF-16
   * @throws CorruptValueException if the stored value cannot be decoded
   * @throws KVLogException if a bounded cache's read of the database failed
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> get(K key);

  /**
   * Stores {@code value} under {@code key}. Returns only after the change is durable (fsynced), and
   * no other thread can observe it before that.
   *
   * @param key the key to write
   * @param value the value to store under it
   * @return the value the key held before this call, if any
   * @throws NullPointerException if {@code key} or {@code value} is null
   * @throws IllegalArgumentException if the encoded key or value is not valid UTF-16
   * @throws WriteFailedException if the change could not be committed: unchanged if {@link
   *     WriteFailedException#outcomeUnknown()} is false, otherwise it may or may not have been
   *     applied (re-read before retrying)
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> set(K key, V value);

  /**
   * Removes {@code key}. Returns only after the removal is durable.
   *
   * @param key the key to remove
   * @return the value the key held before this call, if any
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if the encoded key is not valid UTF-16
   * @throws WriteFailedException if the change could not be committed: unchanged if {@link
   *     WriteFailedException#outcomeUnknown()} is false, otherwise it may or may not have been
   *     applied (re-read before retrying)
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> delete(K key);

  /**
   * Stores {@code value} under {@code key} only if the key is absent. Atomic with respect to every
   * other write; returns once the change (if any) is durable.
   *
   * @param key the key to write
   * @param value the value to store if the key is absent
   * @return the value already present (then nothing was written), or empty if {@code value} was
   *     stored
   * @throws NullPointerException if {@code key} or {@code value} is null
   * @throws IllegalArgumentException if the encoded key or value is not valid UTF-16
   * @throws WriteFailedException if the change could not be committed: unchanged if {@link
   *     WriteFailedException#outcomeUnknown()} is false, otherwise it may or may not have been
   *     applied (re-read before retrying)
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> setIfAbsent(K key, V value);

  /**
   * If {@code key} holds {@code expected}, replaces it with {@code newValue}; atomic with respect
   * to every other write and durable before it returns true. Values are compared in their encoded
   * form. A null {@code expected} means "absent" and a null {@code newValue} means "remove", so
   * this also covers insert-if-absent and delete-if-unchanged.
   *
   * <p>Comparing encoded text has a consequence when the stored text is not what this store's codec
   * writes: a value another tool reformatted (JSON with its fields reordered or spaced differently,
   * say) never matches, not even the value {@code get} just returned, because {@code expected} is
   * re-encoded before the comparison. A read-then-compareAndSet loop on such a value returns false
   * forever. Rewrite the value once with {@code set} (or a batch) to bring it back to the codec's
   * form, or compare the decoded values yourself under your own lock.
   *
   * @param key the key to write
   * @param expected the value the key must hold now; null for "absent"
   * @param newValue the value to store instead; null to remove the key
   * @return true if the key held {@code expected} (and now holds {@code newValue}); false if it
   *     held something else, in which case nothing was written
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if the encoded key or a value is not valid UTF-16
   * @throws WriteFailedException if the change could not be committed: unchanged if {@link
   *     WriteFailedException#outcomeUnknown()} is false, otherwise it may or may not have been
   *     applied (re-read before retrying)
   * @throws StoreClosedException if the store is closed
   */
  boolean compareAndSet(K key, V expected, V newValue);

  /**
   * Applies every change of {@code batch}, in order, in one transaction: all of them or none.
   * Returns once they are durable; no reader sees some of them without the others. An empty batch
   * writes nothing.
   *
   * @param batch the changes to apply
   * @throws NullPointerException if {@code batch} is null
   * @throws IllegalArgumentException if a key or value is not valid UTF-16 or cannot be stored by
   *     the backend (nothing is written)
   * @throws WriteFailedException if the batch could not be committed: unchanged if {@link
   *     WriteFailedException#outcomeUnknown()} is false, otherwise it may or may not have been
   *     applied
   * @throws StoreClosedException if the store is closed
   */
  void write(WriteBatch<K, V> batch);

  /**
   * The entries with {@code from <= key < to}, in the order of the encoded keys' Unicode code
   * points, from one consistent snapshot: a batch is in it entirely or not at all, and no later
   * {@link #get} returns an older value than it showed. Materialized before this returns, so the
   * stream holds no connection, lock or transaction; closing it is optional. For a range larger
   * than memory, stream it with {@link #range(Object, Object, Scan)}.
   *
   * @param from lowest key, inclusive; null for no lower bound
   * @param to highest key, exclusive; null for no upper bound
   * @return the entries in the range, in key order
   * @throws CorruptValueException if a stored entry cannot be decoded by its codec
   * @throws KVLogException if the stored data cannot be read
   * @throws StoreClosedException if the store is closed
   */
  Stream<Map.Entry<K, V>> range(K from, K to);

  /**
   * The entries whose encoded keys start with the encoding of {@code prefix}, in key order, from
   * one consistent snapshot, as {@link #range}.
   *
   * @param prefix the start every returned key shares, compared in encoded form
   * @return the entries whose keys start with {@code prefix}, in key order
   * @throws NullPointerException if {@code prefix} is null
   * @throws CorruptValueException if a stored entry cannot be decoded by its codec
   * @throws StoreClosedException if the store is closed
   */
  Stream<Map.Entry<K, V>> scan(K prefix);

  /**
   * The entries with {@code from <= key < to}, in the order of the encoded keys' Unicode code
   * points, read as {@code how} says. {@link Scan#materialized()} is {@link #range(Object,
   * Object)}. The two lazy modes read as the stream is pulled, in bounded memory, and decode each
   * entry when it is pulled: an entry the codecs cannot read fails the stream there with {@link
   * CorruptValueException}, after the entries before it were delivered. Pulling a lazy stream after
   * {@link #close()} throws {@link StoreClosedException}.
   *
   * <p><b>{@link Scan#paged(int)}</b>: each page is read in its own short read transaction, with
   * the guarantees of {@link #range(Object, Object)} for that page (one consistent snapshot; no
   * later {@link #get} older than it). Nothing is held between pages, and the stream as a whole is
   * not one snapshot. What it guarantees:
   *
   * <ul>
   *   <li>each key at most once, in code-point order, within the bounds;
   *   <li>an entry present and unchanged for the whole scan is returned, with that value;
   *   <li>a key written during the scan is returned with a value it held at some point during the
   *       scan, or not at all if it was absent when its page was read;
   *   <li>a batch ({@link #write}) is never seen in part within one page, but may be across pages:
   *       the keys of one page from before it, those of a later page from after.
   * </ul>
   *
   * <p><b>{@link Scan#pinned(int)}</b>: one consistent snapshot for the whole stream, taken when
   * this method returns, as {@link #range(Object, Object)}'s; writes after it are not seen. It
   * holds a pooled connection and a read transaction until the stream is exhausted or closed: on
   * SQLite that keeps the WAL from being reset, so close the stream (try-with-resources). {@link
   * #close()} closes it too; an unreachable unclosed stream is closed when the garbage collector
   * finds it.
   *
   * @param from lowest key, inclusive; null for no lower bound
   * @param to highest key, exclusive; null for no upper bound
   * @param how materialized, paged or pinned
   * @return the entries in the range, in key order
   * @throws NullPointerException if {@code how} is null
   * @throws CorruptValueException if a stored entry cannot be decoded by its codec (lazy modes:
   *     from the stream, when that entry is pulled)
   * @throws KVLogException if the stored data cannot be read (lazy modes: also from the stream)
   * @throws StoreClosedException if the store is closed (lazy modes: also from the stream)
   */
  Stream<Map.Entry<K, V>> range(K from, K to, Scan how);

  /**
   * The entries whose encoded keys start with the encoding of {@code prefix}, in key order, read as
   * {@code how} says, with the guarantees of {@link #range(Object, Object, Scan)}.
   *
   * @param prefix the start every returned key shares, compared in encoded form
   * @param how materialized, paged or pinned
   * @return the entries whose keys start with {@code prefix}, in key order
   * @throws NullPointerException if {@code prefix} or {@code how} is null
   * @throws CorruptValueException if a stored entry cannot be decoded by its codec (lazy modes:
   *     from the stream, when that entry is pulled)
   * @throws KVLogException if the stored data cannot be read (lazy modes: also from the stream)
   * @throws StoreClosedException if the store is closed (lazy modes: also from the stream)
   */
  Stream<Map.Entry<K, V>> scan(K prefix, Scan how);

  /**
   * The number of entries.
   *
   * @return the number of keys the store holds
   * @throws StoreClosedException if the store is closed
   */
  int size();

  /**
   * A {@link ConcurrentMap} view of this store, for code written against maps (caches, frameworks).
   * Every call is the store's own operation, with its guarantees: {@code get} reads, {@code put}
   * and {@code remove} are durable writes returning the prior value, {@code putIfAbsent} is {@link
   * #setIfAbsent}, and {@code replace(k, old, new)} and {@code remove(k, v)} compare with {@code
   * equals} the value decoded from the stored text and then replace exactly that text atomically (a
   * compare-and-set on the stored text, retried if another write came between); {@code replace(k,
   * v)}, {@code compute} and {@code merge} are retry loops over those atomic operations. Iteration,
   * {@code size} and {@code containsValue} read one consistent snapshot. Nulls are refused as
   * {@link ConcurrentMap} requires. Thread-safe.
   *
   * @return a live view of this store
   */
  ConcurrentMap<K, V> asMap();

  /**
   * Waits for writes in progress, releases the files and the owner lock. Idempotent; every later
   * call other than {@code close} throws {@link StoreClosedException}.
   */
  @Override
  void close();
}
