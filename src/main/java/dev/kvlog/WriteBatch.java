package dev.kvlog;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiConsumer;

/**
 * Changes to apply together with {@link KVLog#write(WriteBatch)}: all of them, in order, in one
 * transaction with one fsync, or none. A later change to a key overrides an earlier one. Not
 * thread-safe; reusable after it was written.
 *
 * <pre>{@code
 * store.write(new WriteBatch<String, String>().set("a", "1").set("b", "2").delete("old"));
 * }</pre>
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class WriteBatch<K, V> {
  private final List<Object[]> changes = new ArrayList<>();

  /** An empty batch. */
  public WriteBatch() {}

  /**
   * Adds a change that maps {@code key} to {@code value}.
   *
   * @param key the key to write
   * @param value the value to store under it
   * @return this batch, for chaining
   */
  public WriteBatch<K, V> set(K key, V value) {
    Objects.requireNonNull(key, "key must not be null");
    Objects.requireNonNull(value, "value must not be null; use delete(key) to remove a key");
    changes.add(new Object[] {key, value});
    return this;
  }

  /**
   * Adds a change that removes {@code key}.
   *
   * @param key the key to remove
   * @return this batch, for chaining
   */
  public WriteBatch<K, V> delete(K key) {
    Objects.requireNonNull(key, "key must not be null");
    changes.add(new Object[] {key, null});
    return this;
  }

  /**
   * The number of changes added.
   *
   * @return how many set and delete changes this batch holds
   */
  public int size() {
    return changes.size();
  }

  /** Calls {@code action} with each change in order; a null value means delete. */
  @SuppressWarnings("unchecked")
  void forEach(BiConsumer<K, V> action) {
    for (Object[] change : changes) {
      action.accept((K) change[0], (V) change[1]);
    }
  }
}
