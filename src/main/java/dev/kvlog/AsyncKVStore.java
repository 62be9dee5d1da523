package dev.kvlog;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The asynchronous view of a {@link KVStore}: the same operations and guarantees, completed on an
 * executor. Keys, values and batches are encoded and checked when a method is called, on the
 * calling thread, so changing an object or a {@link WriteBatch} afterwards changes nothing stored.
 * A future returned by a write completes only after the change is durable; it completes
 * exceptionally with the exception the synchronous call would throw.
 *
 * <p>Thread-safe. Obtain one from {@link KVLog#async()} or {@link
 * KVLog#async(java.util.concurrent.Executor)}.
 *
 * @param <K> key type
 * @param <V> value type
 */
public interface AsyncKVStore<K, V> {

  /**
   * {@link KVStore#get}, already completed: reads never wait for I/O. With a bounded cache ({@link
   * KVLogBuilder#cacheSize}), whose misses read the database, it runs on the executor instead.
   *
   * @param key the key to look up
   * @return a completed future of the value under {@code key}, or of empty if the key is absent
   */
  CompletableFuture<Optional<V>> get(K key);

  /**
   * {@link KVStore#set}, run on the executor.
   *
   * @param key the key to write
   * @param value the value to store under it
   * @return the value the key held before, once the change is durable
   */
  CompletableFuture<Optional<V>> set(K key, V value);

  /**
   * {@link KVStore#delete}, run on the executor.
   *
   * @param key the key to remove
   * @return the value the key held before, once the removal is durable
   */
  CompletableFuture<Optional<V>> delete(K key);

  /**
   * {@link KVStore#setIfAbsent}, run on the executor.
   *
   * @param key the key to write
   * @param value the value to store if the key is absent
   * @return the value already present, or empty once {@code value} is stored and durable
   */
  CompletableFuture<Optional<V>> setIfAbsent(K key, V value);

  /**
   * {@link KVStore#compareAndSet}, run on the executor.
   *
   * @param key the key to write
   * @param expected the value the key must hold now; null for "absent"
   * @param newValue the value to store instead; null to remove the key
   * @return true once the replacement is durable; false if the key held something else
   */
  CompletableFuture<Boolean> compareAndSet(K key, V expected, V newValue);

  /**
   * {@link KVStore#write}, run on the executor; completes once the whole batch is durable.
   *
   * @param batch the changes to apply
   * @return a future completed when all the changes are durable
   */
  CompletableFuture<Void> write(WriteBatch<K, V> batch);
}
