package dev.kvlog.sqlite;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.BiConsumer;

/**
 * The open-addressing hash table under {@link WarmCache}: String keys to String values, linear
 * probing, deletion by backward shift (no tombstones). Not thread-safe on its own: one writer at a
 * time; readers may run concurrently with the writer but can then return anything a torn state
 * implies (a stale value, null, another key's value), so {@link WarmCache} validates every read
 * with its seqlock. A read racing with a write never throws and never loops forever: a probe visits
 * at most every slot of the arrays it started with, and every slot holds a String or null.
 *
 * <p><b>Why this layout.</b> A {@code ConcurrentHashMap} lookup loads table slot, node, key, key
 * bytes and value: the node is one dependent load and 32 bytes per entry. Here the probe runs over
 * an {@code int[]} of hashes (several slots per cache line, no pointer chasing), and a slot's key
 * and value sit next to each other in one {@code Object[]}, so a hit loads hash, pair, key, key
 * bytes. The heap per entry is the two Strings plus 12 bytes per slot (load at most 3/4, at least
 * 3/8 after growing).
 */
final class CacheTable {
  private static final int MIN_CAPACITY = 16;
  private static final VarHandle HASH = MethodHandles.arrayElementVarHandle(int[].class);

  /** One generation of the arrays; replaced whole when the table grows or is cleared. */
  private static final class Slots {
    final int[] hashes; // 0: empty; otherwise hash(key) of the pair in the same slot
    final Object[] pairs; // key at 2i, value at 2i + 1
    final int shift; // a hash's home slot is hash >>> shift
    int size; // written by the writer only

    Slots(int capacity) {
      hashes = new int[capacity];
      pairs = new Object[2 * capacity];
      shift = 32 - Integer.numberOfTrailingZeros(capacity);
    }
  }

  private volatile Slots slots;

  /** An empty table with room for {@code expected} entries before it grows. */
  CacheTable(int expected) {
    slots = new Slots(capacityFor(expected));
  }

  private static int capacityFor(int entries) {
    long needed = Math.max(MIN_CAPACITY, (entries * 4L + 2) / 3 + 1);
    if (needed > 1 << 30) {
      throw new IllegalStateException("the cache cannot hold " + entries + " entries");
    }
    return Integer.highestOneBit((int) needed - 1) << 1;
  }

  /** Fibonacci hashing: the multiply spreads String.hashCode's bits into the top ones we use. */
  static int hash(String key) {
    int h = key.hashCode() * 0x9E3779B9;
    return h == 0 ? 1 : h;
  }

  /** The value of {@code key}, or null. Safe to call concurrently with the writer (see above). */
  String get(String key) {
    int h = hash(key);
    Slots t = slots;
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    int mask = hashes.length - 1;
    int i = h >>> t.shift;
    for (int probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
      int x = hashes[i];
      if (x == 0) {
        return null;
      }
      if (x == h) {
        Object k = pairs[2 * i];
        if (k == key || key.equals(k)) {
          return (String) pairs[2 * i + 1];
        }
      }
    }
    return null;
  }

  /** The number of entries; concurrent readers must validate it as {@link #get}. */
  int size() {
    return slots.size;
  }

  /** Maps {@code key} to {@code value}. Writer only. */
  void put(String key, String value) {
    Slots t = slots;
    int h = hash(key);
    int i = find(t, key, h);
    if (i >= 0) {
      t.pairs[2 * i + 1] = value;
      return;
    }
    if ((t.size + 1) * 4L > t.hashes.length * 3L) {
      t = grow(t);
    }
    insertNew(t, key, value, h);
  }

  /**
   * The entries the current arrays take before they must grow (3/4 of the slots, less the size):
   * what concurrent {@link #insertAbsent} calls may insert together.
   */
  int room() {
    Slots t = slots;
    return (int) (t.hashes.length * 3L / 4) - t.size;
  }

  /**
   * Inserts {@code key}, which must be absent from the table and from every concurrent call, during
   * a bulk load: several threads may call this at once, inserting together at most {@link #room()}
   * entries, while nothing else uses the table (no reader, no {@link #put}, no {@link #remove}).
   * Each claims its slot by a CAS of the slot's hash from 0, then fills key and value. Does not
   * count the entry: once the inserting threads are done (their inserts happen-before), call {@link
   * #countInserted}.
   */
  void insertAbsent(String key, String value) {
    Slots t = slots;
    int h = hash(key);
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    for (int i = h >>> t.shift; ; i = (i + 1) & mask) {
      if (hashes[i] == 0 && HASH.compareAndSet(hashes, i, 0, h)) {
        t.pairs[2 * i] = key;
        t.pairs[2 * i + 1] = value;
        return;
      }
    }
  }

  /**
   * Adds {@code n} entries made by {@link #insertAbsent} to the size, and republishes the arrays
   * with a volatile write, so a reader that later reads them sees every insert.
   */
  void countInserted(int n) {
    Slots t = slots;
    t.size += n;
    slots = t;
  }

  /** Removes {@code key} if present. Writer only. */
  void remove(String key) {
    Slots t = slots;
    int i = find(t, key, hash(key));
    if (i < 0) {
      return;
    }
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    int mask = hashes.length - 1;
    // Backward shift: pull later entries of the run into the hole unless their home slot lies
    // cyclically in (hole, j], so every entry stays reachable from its home without tombstones.
    for (int j = (i + 1) & mask; hashes[j] != 0; j = (j + 1) & mask) {
      int home = hashes[j] >>> t.shift;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        pairs[2 * i] = pairs[2 * j];
        pairs[2 * i + 1] = pairs[2 * j + 1];
        hashes[i] = hashes[j];
        i = j;
      }
    }
    hashes[i] = 0;
    pairs[2 * i] = null;
    pairs[2 * i + 1] = null;
    t.size--;
  }

  /** Calls {@code action} for every entry; concurrent readers must validate the result. */
  void forEach(BiConsumer<String, String> action) {
    Slots t = slots;
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    for (int i = 0; i < hashes.length; i++) {
      Object k = pairs[2 * i];
      if (hashes[i] != 0 && k != null) {
        Object v = pairs[2 * i + 1];
        if (v != null) {
          action.accept((String) k, (String) v);
        }
      }
    }
  }

  /** Drops every entry and the arrays with them (one volatile write: readers see old or empty). */
  void clear() {
    slots = new Slots(MIN_CAPACITY);
  }

  private static int find(Slots t, String key, int h) {
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    int mask = hashes.length - 1;
    for (int i = h >>> t.shift; ; i = (i + 1) & mask) {
      int x = hashes[i];
      if (x == 0) {
        return -1;
      }
      if (x == h && key.equals(pairs[2 * i])) {
        return i;
      }
    }
  }

  /** Inserts a key known to be absent; the table has room. Key and value before the hash. */
  private static void insertNew(Slots t, String key, String value, int h) {
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    int i = h >>> t.shift;
    while (hashes[i] != 0) {
      i = (i + 1) & mask;
    }
    t.pairs[2 * i] = key;
    t.pairs[2 * i + 1] = value;
    hashes[i] = h;
    t.size++;
  }

  /** Copies into arrays twice as large and publishes them with one volatile write. */
  private Slots grow(Slots old) {
    Slots t = new Slots(old.hashes.length * 2);
    for (int i = 0; i < old.hashes.length; i++) {
      if (old.hashes[i] != 0) {
        insertNew(t, (String) old.pairs[2 * i], (String) old.pairs[2 * i + 1], old.hashes[i]);
      }
    }
    slots = t;
    return t;
  }
}
