package dev.kvlog;

import java.util.Optional;

/**
 * A durable key-value store: reads come from memory, writes return once they are durable.
 *
 * <p>Implementations are thread-safe: one instance may be shared by any number of platform threads,
 * virtual threads and asynchronous tasks without external locking.
 *
 * @param <K> key type
 * @param <V> value type
 */
public interface KVStore<K, V> extends AutoCloseable {

  /**
   * Returns the value stored under {@code key}. Never touches the disk.
   *
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if the encoded key is not valid UTF-16
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> get(K key);

  /**
   * Stores {@code value} under {@code key}. Returns only after the change is durable (fsynced), and
   * no other thread can observe it before that.
   *
   * @return the value the key held before this call, if any
   * @throws NullPointerException if {@code key} or {@code value} is null
   * @throws IllegalArgumentException if the encoded key or value is not valid UTF-16
   * @throws WriteFailedException if the log could not commit the change; the store is unchanged
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> set(K key, V value);

  /**
   * Removes {@code key}. Returns only after the removal is durable.
   *
   * @return the value the key held before this call, if any
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if the encoded key is not valid UTF-16
   * @throws WriteFailedException if the log could not commit the change; the store is unchanged
   * @throws StoreClosedException if the store is closed
   */
  Optional<V> delete(K key);

  /**
   * Waits for writes in progress, releases the files and the owner lock. Idempotent; every later
   * call other than {@code close} throws {@link StoreClosedException}.
   */
  @Override
  void close();
}
