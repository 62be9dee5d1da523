package dev.kvlog;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The asynchronous view of a {@link KVStore}: the same operations and guarantees, completed on an
 * executor. A future returned by a write completes only after the change is durable; it completes
 * exceptionally with the exception the synchronous call would throw.
 *
 * <p>Thread-safe. Obtain one from {@link KVLog#async()} or {@link
 * KVLog#async(java.util.concurrent.Executor)}.
 *
 * @param <K> key type
 * @param <V> value type
 */
public interface AsyncKVStore<K, V> {

  /** {@link KVStore#get}, already completed: reads never wait for I/O. */
  CompletableFuture<Optional<V>> get(K key);

  /** {@link KVStore#set}, run on the executor. */
  CompletableFuture<Optional<V>> set(K key, V value);

  /** {@link KVStore#delete}, run on the executor. */
  CompletableFuture<Optional<V>> delete(K key);

  /** {@link KVStore#setIfAbsent}, run on the executor. */
  CompletableFuture<Optional<V>> setIfAbsent(K key, V value);

  /** {@link KVStore#compareAndSet}, run on the executor. */
  CompletableFuture<Boolean> compareAndSet(K key, V expected, V newValue);

  /** {@link KVStore#write}, run on the executor; completes once the whole batch is durable. */
  CompletableFuture<Void> write(WriteBatch<K, V> batch);
}
