package dev.kvlog;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentMap;

/**
 * {@link KVStore#asMap()} for {@link KVLog}: each method is one of the store's operations. The
 * value-comparing ones ({@code replace(k, old, new)}, {@code remove(k, v)}, {@code replace(k, v)})
 * read the stored text, decode it, compare with {@code equals}, and swap exactly that text with a
 * compare-and-set, retrying if another write came between: atomic, and unaffected by a value whose
 * stored text is not the codec's own form (which a compare-and-set of re-encoded values would never
 * match). Thread-safe.
 */
final class MapView<K, V> extends AbstractMap<K, V> implements ConcurrentMap<K, V> {
  private final TypedStore<K, V> store;

  MapView(TypedStore<K, V> store) {
    this.store = store;
  }

  @SuppressWarnings("unchecked") // a key of another type fails in the codec: ClassCastException
  private K cast(Object key) {
    return (K) Objects.requireNonNull(key, "key must not be null");
  }

  @Override
  public V get(Object key) {
    return store.get(cast(key)).orElse(null);
  }

  @Override
  public boolean containsKey(Object key) {
    return store.get(cast(key)).isPresent();
  }

  @Override
  public V put(K key, V value) {
    return store.set(key, value).orElse(null);
  }

  @Override
  public V remove(Object key) {
    return store.delete(cast(key)).orElse(null);
  }

  @Override
  public V putIfAbsent(K key, V value) {
    return store.setIfAbsent(key, value).orElse(null);
  }

  @Override
  public boolean remove(Object key, Object value) {
    if (key == null || value == null) {
      return false;
    }
    for (; ; ) {
      TypedStore.Current<V> now = store.current(cast(key));
      if (now == null || !now.value().equals(value)) {
        return false;
      }
      if (store.swap(now, null)) {
        return true;
      }
    }
  }

  @Override
  public boolean replace(K key, V oldValue, V newValue) {
    Objects.requireNonNull(oldValue, "oldValue must not be null");
    Objects.requireNonNull(newValue, "newValue must not be null");
    for (; ; ) {
      TypedStore.Current<V> now = store.current(key);
      if (now == null || !now.value().equals(oldValue)) {
        return false;
      }
      if (store.swap(now, newValue)) {
        return true;
      }
    }
  }

  @Override
  public V replace(K key, V value) {
    Objects.requireNonNull(value, "value must not be null");
    for (; ; ) {
      TypedStore.Current<V> now = store.current(key);
      if (now == null) {
        return null;
      }
      if (store.swap(now, value)) {
        return now.value();
      }
    }
  }

  @Override
  public int size() {
    return store.size();
  }

  @Override
  public boolean isEmpty() {
    return store.size() == 0;
  }

  /** Removes the entries present when it starts, in one batch (one transaction). */
  @Override
  public void clear() {
    WriteBatch<K, V> batch = new WriteBatch<>();
    store.forEach((k, v) -> batch.delete(k));
    store.write(batch);
  }

  /** A snapshot of the entries at the time of iteration; removing through it deletes the key. */
  @Override
  public Set<Map.Entry<K, V>> entrySet() {
    return new AbstractSet<>() {
      @Override
      public Iterator<Map.Entry<K, V>> iterator() {
        List<Map.Entry<K, V>> entries = new ArrayList<>();
        store.forEach((k, v) -> entries.add(new SimpleImmutableEntry<>(k, v)));
        Iterator<Map.Entry<K, V>> it = entries.iterator();
        return new Iterator<>() {
          private Map.Entry<K, V> last;

          @Override
          public boolean hasNext() {
            return it.hasNext();
          }

          @Override
          public Map.Entry<K, V> next() {
            return last = it.next();
          }

          @Override
          public void remove() {
            if (last == null) {
              throw new IllegalStateException("next() was not called");
            }
            store.delete(last.getKey());
            last = null;
          }
        };
      }

      @Override
      public int size() {
        return store.size();
      }
    };
  }
}
